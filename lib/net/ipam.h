/* Networks, address leases and published-port claims in the state database (module "net").
 * Every allocation runs in one BEGIN IMMEDIATE transaction, so concurrent berth processes never
 * hand out the same address, MAC, interface name or host port. Addresses are handed out round
 * robin from a per-network cursor: a released address is reused only after the rest of the
 * subnet has been used, and never while a lease holds it. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "net/attach.h"
#include "net/cidr.h"
#include "store/store.h"

#define NET_WORKLOAD_MAX 128

struct net_network {
    char name[NET_NAME_MAX];
    char bridge[IFNAMSIZ];
    struct net_cidr subnet;
    uint32_t gateway;
    bool internal;
    unsigned mtu;
    int64_t created;          /* unix seconds */
};

struct net_lease {
    char network[NET_NAME_MAX];
    char workload[NET_WORKLOAD_MAX];
    char name[NET_NAME_MAX];
    char kind[16];            /* "container" or "vm" */
    uint32_t ip;
    char mac[NET_MAC_STRLEN];
    char host_ifname[IFNAMSIZ];
    char ifname[IFNAMSIZ];
};

/* An address asked for with --ip, held for workload while it is stopped (see ipam_reserve). */
struct net_reservation {
    char network[NET_NAME_MAX];
    char workload[NET_WORKLOAD_MAX];
    char name[NET_NAME_MAX];
    char kind[16];
    uint32_t ip;
};

struct net_port_claim {
    struct net_port port;
    char workload[NET_WORKLOAD_MAX];
    char network[NET_NAME_MAX];
    uint32_t ip;
};

/* Opens $BERTH_ROOT/berth.db (or root) and applies the net schema. */
int ipam_open(const char *root, struct store **ret, struct berth_error *err);

/* Network names: 1-63 of [A-Za-z0-9_.-], starting with a letter or digit. */
int ipam_check_name(const char *what, const char *name, struct berth_error *err);

int ipam_network_get(struct store *s, const char *name, struct net_network *ret, struct berth_error *err);
/* Validates (gateway inside, subnet /8../30, no overlap with another network, unique bridge) and
 * stores. A NULL bridge name picks the first free berthN. -EEXIST when the name is taken. */
int ipam_network_insert(struct store *s, struct net_network *nw, struct berth_error *err);
/* Refuses (-EBUSY) while workloads are attached. */
int ipam_network_delete(struct store *s, const char *name, struct berth_error *err);
int ipam_network_list(struct store *s, struct net_network **ret, size_t *ret_n, struct berth_error *err);
/* A free /24 in 10.90.0.0/16..10.127.255.0/24 not overlapping any network. */
int ipam_pick_subnet(struct store *s, struct net_cidr *ret, struct berth_error *err);

/* Allocates an address (want_ip or the next free one), a MAC (want_mac or one derived from the
 * workload id), a host interface name (prefix "bv" for veth, "bt" for taps) and the interface
 * name inside (want_ifname or eth<N>). -EEXIST if the workload is already on this network,
 * -EADDRINUSE for a held address or MAC, -ENOSPC when the subnet is full. */
int ipam_lease_alloc(struct store *s, const struct net_network *nw, const char *workload, const char *name,
                     const char *kind, uint32_t want_ip, const char *want_mac, const char *want_ifname,
                     struct net_lease *ret, struct berth_error *err);
int ipam_lease_release(struct store *s, const char *network, const char *workload, struct berth_error *err);
/* All leases of a workload (network NULL) or of a network (workload NULL), or all (both NULL). */
int ipam_lease_list(struct store *s, const char *network, const char *workload, struct net_lease **ret,
                    size_t *ret_n, struct berth_error *err);
/* Address of NAME on network (a workload name or alias, case-insensitively), -ENOENT when none. */
int ipam_lookup_name(struct store *s, const char *network, const char *name, uint32_t *ret_ip);
/* NAME on another network of the workload that holds client_ip on network (a container on two
 * networks asks its first resolver for a member of the second), -ENOENT when none. */
int ipam_lookup_name_via(struct store *s, const char *network, uint32_t client_ip, const char *name, uint32_t *ret_ip);

/* Address and name of the lease holding MAC mac ("xx:..") on network, -ENOENT when none. */
int ipam_lookup_mac(struct store *s, const char *network, const char *mac, uint32_t *ret_ip,
                    char ret_name[NET_NAME_MAX]);

/* Aliases: extra DNS names of workload on network (A records of its address there), checked with
 * ipam_check_alias. ipam_alias_set replaces the workload's aliases there (it must hold a lease);
 * -EEXIST when one is another workload's name or alias on that network (case-insensitively).
 * Releasing the lease removes them. ipam_alias_list returns them (NULL when none) as a strv. */
int ipam_check_alias(const char *alias, struct berth_error *err);
int ipam_alias_set(struct store *s, const char *network, const char *workload, const char *const *aliases, size_t n,
                   struct berth_error *err);
/* What ipam_lease_alloc and ipam_alias_set would refuse now for workload (a stopped container
 * connected with --ip/--alias is told at once): want_ip (0: none) and the aliases. */
int ipam_request_check(struct store *s, const struct net_network *nw, const char *workload, uint32_t want_ip,
                       const char *const *aliases, size_t n, struct berth_error *err);
int ipam_alias_list(struct store *s, const char *network, const char *workload, char ***ret, struct berth_error *err);

/* Reservations: an address (--ip) and aliases a workload asked for are held for it from its create
 * (or connect) until its removal (or disconnect), across stops, so that automatic assignment
 * (which skips reserved addresses) never hands the address to another workload first, and no
 * other workload is given the alias (or named like it) meanwhile. ipam_reserve checks, in one
 * transaction, what ipam_request_check checks (the address is then also refused when another
 * workload reserved it, and an alias when another reserved it, both naming that workload) and
 * records ip (0: none) and the aliases for workload on nw, replacing what it had reserved there.
 * Leases and ipam_lease_release leave reservations alone: ipam_unreserve drops the workload's
 * (network NULL: on every network). */
int ipam_reserve(struct store *s, const struct net_network *nw, const char *workload, const char *name,
                 const char *kind, uint32_t ip, const char *const *aliases, size_t n, struct berth_error *err);
int ipam_unreserve(struct store *s, const char *network, const char *workload, struct berth_error *err);
/* The workloads holding any reservation (address or alias), as a strv (NULL when none). */
int ipam_reservation_holders(struct store *s, char ***ret, struct berth_error *err);
/* The address reservations of a workload and/or network (NULL: any). Caller frees *ret. */
int ipam_reservation_list(struct store *s, const char *network, const char *workload, struct net_reservation **ret,
                          size_t *ret_n, struct berth_error *err);

/* Claims host ports for workload (all or none). -EADDRINUSE names the port and its holder. */
int ipam_port_claim(struct store *s, const char *workload, const char *network, uint32_t ip,
                    const struct net_port *ports, size_t n, struct berth_error *err);
int ipam_port_release(struct store *s, const char *workload, struct berth_error *err);
int ipam_port_list(struct store *s, const char *workload, struct net_port_claim **ret, size_t *ret_n,
                   struct berth_error *err);

/* Stable locally-administered unicast MAC for (workload, attempt). */
void ipam_mac_for(const char *workload, unsigned attempt, char ret[NET_MAC_STRLEN]);
int ipam_parse_mac(const char *s, uint8_t ret[6], struct berth_error *err);
