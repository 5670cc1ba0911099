/* berth's nftables rules, all in its own table "ip berth" (base chains prerouting, output,
 * postrouting: nat; forward, input: filter). Every rule carries a comment tag: "net:NAME" for a network's
 * masquerade/isolation rules, "wl:ID" for a workload's published ports, so they are removed
 * exactly with their owner. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "net/ipam.h"

/* Creates the table and base chains if missing (idempotent). */
int nft_ensure_base(struct berth_error *err);
/* Adds the network's rules: masquerade to outside the subnet unless internal, loopback-sourced
 * DNAT replies, isolation from other berth bridges, and for internal networks no forwarding
 * in or out of the bridge at all and no host address but the gateway. */
int nft_network_add(const struct net_network *nw, struct berth_error *err);
/* DNAT rules for published ports: prerouting (from outside) and output (from the host itself,
 * loopback included). */
int nft_ports_add(const char *workload, uint32_t ip, const struct net_port *ports, size_t n, struct berth_error *err);
/* Deletes every rule tagged tag ("net:NAME" or "wl:ID"). Missing table is fine. */
int nft_delete_tagged(const char *tag, struct berth_error *err);
/* Lists the distinct tags present (for reconciliation). *ret is a NULL-terminated strv. */
int nft_list_tags(char ***ret, struct berth_error *err);
/* Removes the whole table (tests, `berth network reset`). */
int nft_delete_table(struct berth_error *err);
/* Runs a raw nft command batch against the table (internal; exported for tests). */
int nft_run(const char *cmds, struct berth_error *err);
