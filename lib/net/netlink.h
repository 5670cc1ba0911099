/* rtnetlink through libmnl: links (bridge, veth, tap attach), addresses, routes. Each call is one
 * request answered by an ACK; kernel errors come back as -errno with the object named in err. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

struct nl;

/* A route netlink socket in the caller's network namespace. */
int nl_open(struct nl **ret, struct berth_error *err);
/* A socket bound to the namespace netns_fd (the socket keeps that namespace: the calling thread
 * enters it only for socket(2) and returns to its own). */
int nl_open_in_netns(int netns_fd, struct nl **ret, struct berth_error *err);
void nl_close(struct nl *nl);

/* Interface index, or -ENODEV. */
int nl_link_index(struct nl *nl, const char *name);

/* mac: the bridge's own address (NULL: the kernel's). A bridge without one set takes the lowest
 * MAC of its ports, so it changes as workloads come and go and their ARP entries for the gateway
 * go stale (lookups and traffic to the gateway are lost until they expire). */
int nl_bridge_add(struct nl *nl, const char *name, const uint8_t *mac, unsigned mtu, struct berth_error *err);
/* Creates host_name in this namespace and peer_name directly in peer_netns_fd (-1: here), with
 * peer_mac (6 bytes or NULL) and mtu (0: default) on both ends. */
int nl_veth_add(struct nl *nl, const char *host_name, const char *peer_name, int peer_netns_fd,
                const uint8_t *peer_mac, unsigned mtu, struct berth_error *err);
/* Deletes a link; a missing link is -ENODEV (callers that clean up ignore it). */
int nl_link_del(struct nl *nl, const char *name, struct berth_error *err);
/* master: bridge name or NULL to leave as is; up brings the link up. */
int nl_link_set(struct nl *nl, const char *name, const char *master, bool up, struct berth_error *err);
int nl_addr_add(struct nl *nl, const char *ifname, uint32_t ip, unsigned prefix, struct berth_error *err);
int nl_route_add_default(struct nl *nl, const char *ifname, uint32_t gateway, struct berth_error *err);

/* Calls fn for every link: its name and its kind ("veth", "bridge", "tun", "" when none). */
typedef int (*nl_link_fn)(const char *name, const char *kind, void *userdata);
int nl_link_foreach(struct nl *nl, nl_link_fn fn, void *userdata, struct berth_error *err);

static inline void nl_closep(struct nl **p)
{
    if (*p)
        nl_close(*p);
}
#define _cleanup_nl_ __attribute__((cleanup(nl_closep)))
