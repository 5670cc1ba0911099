/* Named networks: create, remove, bring up (bridge, gateway address, sysctls, nftables rules,
 * DNS resolver), the default network, and reconciliation after crashes and reboots. */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "net/ipam.h"
#include "net/netlink.h"

struct net_create_opts {
    const char *subnet;     /* CIDR, NULL: a free /24 from 10.90.0.0/16 upwards */
    const char *gateway;    /* NULL: first host of the subnet */
    bool internal;
    unsigned mtu;           /* 0: 1500 */
};

/* Records the network and brings it up. */
int network_create(struct store *s, const char *name, const struct net_create_opts *opts, struct net_network *ret,
                   struct berth_error *err);
/* Refuses while workloads are attached; stops the resolver, removes rules and the bridge. */
int network_remove(struct store *s, const char *name, struct berth_error *err);

/* The network called name (NULL: the default one, created on first use from berth.conf). */
int network_resolve(struct store *s, const char *name, struct net_network *ret, struct berth_error *err);

/* As network_resolve, but a default network created here is only recorded: its bridge, rules and
 * resolver come with its first attach (network_ensure_up). For checks and reservations made
 * before any workload runs (a create --ip). */
int network_resolve_record(struct store *s, const char *name, struct net_network *ret, struct berth_error *err);

/* Makes sure bridge, address, sysctls and rules exist (after a reboot they do not); cheap when
 * the bridge is there. Then makes sure the DNS resolver runs. */
int network_ensure_up(struct nl *nl, const struct net_network *nw, struct berth_error *err);

/* The default network's subnet: [network] default_subnet in $BERTH_ROOT/berth.conf, or
 * NET_DEFAULT_SUBNET. */
int network_default_subnet(struct net_cidr *ret, struct berth_error *err);

struct net_reconcile_stats {
    unsigned links_removed, leases_released, rules_removed, networks_restored;
};
/* Cleans what a crash left: host veths/taps and bridges without a network or lease, container
 * leases whose veth is gone (their namespace died), port claims and rules without a lease; and
 * brings every network up. Excludes concurrent attaches (lock) while it runs. */
int network_reconcile(struct store *s, struct net_reconcile_stats *ret, struct berth_error *err);

/* Drops the reservations (--ip addresses and aliases, see ipam_reserve) of workloads that no
 * longer exist. The network module does not know containers and VMs: exists(id, userdata) says
 * whether a workload with that id does (> 0), does not (0), or cannot tell (< 0: kept). Creates
 * and removals order their writes so that a reservation always has a workload record (rm releases
 * it); this is for anything else that left one behind. Under the exclusive lock. */
int network_reconcile_reservations(struct store *s, int (*exists)(const char *id, void *userdata), void *userdata,
                                   unsigned *ret_released, struct berth_error *err);

/* Locks in $BERTH_RUNTIME_DIR/net/: attaches share, reconcile is exclusive. Returns the fd. */
int network_lock(bool exclusive, struct berth_error *err);

/* DNS resolver process for a network: `berth network dns NAME`, one per network. */
int dns_ensure_running(const char *network, struct berth_error *err);
int dns_stop(const char *network);
/* Path of the resolver's pid file ($BERTH_RUNTIME_DIR/net/dns-NAME.pid). Caller frees. */
char *dns_pid_path(const char *network);
