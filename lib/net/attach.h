/* Workload hooks of the network module: what `berth run` (containers) and `berth vm` (microVMs)
 * call to put a workload on a berth network and take it off again.
 *
 * Every call opens the state database itself ($BERTH_ROOT/berth.db), makes sure the network is up
 * (creates the default network "berth" on first use, recreates bridge, nftables rules and the DNS
 * resolver after a host reboot), and is safe against concurrent berth processes: addresses,
 * MACs and host ports are allocated inside one SQLite BEGIN IMMEDIATE transaction.
 *
 * Typical container sequence (the runtime owns the netns; we only plumb it):
 *     struct net_attachment a;
 *     net_attach_container(NULL, id, name, "/proc/<pid>/ns/net", 0, &opts, &a, &err);
 *     net_write_etc_files(rootfs, &a, 1, name, &err);      // before the workload's exec
 *     ... on removal: net_detach(id, &err);
 * Typical VM sequence:
 *     struct net_vm_attachment v;
 *     net_attach_vm(NULL, vm_id, name, &opts, NET_TAP_VNET_HDR, &v, &err);
 *     pass v.tap_fd to berth-vmm (inherit or SCM_RIGHTS), or reopen by name with net_tap_open();
 *     add v.kernel_ip to the guest kernel command line;
 *     ... on removal: net_detach(vm_id, &err);
 *
 * Workload ids are the caller's (container id, VM id); one workload may be attached to several
 * networks (one call per network; interfaces eth0, eth1, ... in attach order unless opts->ifname).
 * net_detach(id) undoes everything for that id: interfaces, leases, published ports, rules. It is
 * idempotent: detaching an unknown id succeeds. */
#pragma once

#include <netinet/in.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* The network used when the caller passes NULL (and, unless berth.conf says otherwise, by
 * workloads created without --network): bridge berth0, subnet from $BERTH_ROOT/berth.conf
 * ([network] default_subnet =), 10.89.0.0/16 when unset. */
#define NET_DEFAULT_NETWORK "berth"
#define NET_DEFAULT_BRIDGE "berth0"
#define NET_DEFAULT_SUBNET "10.89.0.0/16"
/* Search domain handed to workloads; the DNS answers NAME and NAME.berth. */
#define NET_DNS_DOMAIN "berth"

#define NET_NAME_MAX 64
#define NET_MAC_STRLEN 18

/* What a workload created without --network joins: [network] default_network in
 * $BERTH_ROOT/berth.conf ("none", "host" or a network name), NET_DEFAULT_NETWORK when unset. The
 * name is checked, not looked up: only NET_DEFAULT_NETWORK is created on first use. */
int network_default_name(char ret[NET_NAME_MAX], struct berth_error *err);

/* One published port: -p [HOSTIP:]HOSTPORT:PORT[/tcp|udp]. */
struct net_port {
    char host_ip[INET_ADDRSTRLEN]; /* "" = every host address (incl. 127.0.0.1) */
    uint16_t host_port;
    uint16_t port;                 /* in the workload */
    int proto;                     /* IPPROTO_TCP or IPPROTO_UDP */
};

/* Parses "[HOSTIP:]HOSTPORT:PORT[/tcp|udp]" (HOSTPORT:PORT also as a single PORT meaning the same
 * on both sides). Errors name the spec and the bad part. */
int net_port_parse(const char *spec, struct net_port *ret, struct berth_error *err);

struct net_attach_opts {
    const char *ip;                /* static address inside the subnet, or NULL to allocate */
    const char *mac;               /* "xx:xx:xx:xx:xx:xx", or NULL for a stable one derived from the id */
    const char *ifname;            /* name inside the workload, NULL for eth<N> */
    const struct net_port *ports;  /* published on this network's address */
    size_t n_ports;
    unsigned mtu;                  /* 0 = the network's (1500) */
    const char *const *aliases;    /* extra DNS names on this network (see ipam_alias_set) */
    size_t n_aliases;
};

/* What the workload was given. Strings are NUL-terminated. */
struct net_attachment {
    char network[NET_NAME_MAX];
    char ifname[IFNAMSIZ];         /* inside the workload (eth0) */
    char host_ifname[IFNAMSIZ];    /* the host end: veth "bv…" or tap "bt…" */
    char ip[INET_ADDRSTRLEN];
    unsigned prefix_len;
    char netmask[INET_ADDRSTRLEN];
    char gateway[INET_ADDRSTRLEN];
    char dns[INET_ADDRSTRLEN];     /* the network's resolver (the gateway address) */
    char search[NET_NAME_MAX];     /* "berth" */
    char mac[NET_MAC_STRLEN];
    unsigned mtu;
};

/* Attaches a container's network namespace to network (NULL = default): a veth pair whose host
 * end joins the bridge and whose other end is created directly inside the namespace (named
 * opts->ifname / eth<N>), gets the MAC, address/prefix, is brought up together with lo, and a
 * default route via the gateway is added (only for the first network of that workload).
 * The namespace is given as a path (netns_path, e.g. /proc/PID/ns/net or /run/netns/X) or, when
 * netns_path is NULL, as pid. opts may be NULL. Writes nothing into any rootfs: see
 * net_write_etc_files. Published ports in opts are claimed (a host port already held is -EADDRINUSE
 * with a clear message) and DNAT rules are added. On failure nothing is left behind. */
int net_attach_container(const char *network, const char *workload_id, const char *name,
                         const char *netns_path, pid_t pid, const struct net_attach_opts *opts,
                         struct net_attachment *ret, struct berth_error *err);

/* Flags for net_attach_vm and net_tap_open. */
#define NET_TAP_VNET_HDR 0x1u      /* IFF_VNET_HDR: virtio-net header on every frame (offloads) */

struct net_vm_attachment {
    struct net_attachment net;     /* net.host_ifname is the tap's name */
    int tap_fd;                    /* open /dev/net/tun fd bound to the tap (O_CLOEXEC); caller closes */
    /* The kernel "ip=" parameter for our guests (CONFIG_IP_PNP), e.g.
     * "ip=10.89.0.7::10.89.0.1:255.255.0.0:NAME:eth0:off:10.89.0.1" */
    char kernel_ip[256];
};

/* Creates a persistent tap (IFF_TAP | IFF_NO_PI, plus IFF_VNET_HDR with NET_TAP_VNET_HDR) on
 * network's bridge, allocates address and MAC (the MAC is stable for vm_id: the same id gets the
 * same MAC every time), publishes opts->ports, and returns an open fd to the tap. The tap stays
 * (persistent) until net_detach, so berth-vmm may be restarted and reopen it by name. */
int net_attach_vm(const char *network, const char *vm_id, const char *name, const struct net_attach_opts *opts,
                  unsigned flags, struct net_vm_attachment *ret, struct berth_error *err);

/* The syntax of a requested address (--ip: "--ip: ..." errors) and aliases (ipam_check_alias), as
 * every workload's options are checked before anything is made; *ret_ip (may be NULL) the address,
 * 0 for none. */
int net_request_check_syntax(const char *ip, const char *const *aliases, size_t n_aliases, uint32_t *ret_ip,
                             struct berth_error *err);

/* Reserves opts->ip and opts->aliases on network (NULL or "": the default one, recorded if it
 * does not exist yet, nothing brought up) for workload_id until net_unreserve, so that automatic
 * assignment skips the address while the workload is stopped and no other workload takes the
 * aliases (see ipam_reserve). Called at create (and network connect) time with the options the workload will be
 * attached with; errors are those of the attach (address outside the subnet, the gateway, held or
 * reserved by another workload, which is named; alias syntax or clash, naming the holder) and
 * nothing is recorded then. The workload's name is held there too (refused, naming the holder,
 * when another workload answers to it or holds it as a name or alias); with neither address nor
 * aliases, on a network other than the default one that does not exist, nothing is held. Stopping a
 * workload (net_detach) keeps its reservations. */
int net_reserve(const char *network, const char *workload_id, const char *name, const char *kind,
                const struct net_attach_opts *opts, struct berth_error *err);
/* Drops workload_id's reservations on network ("" the default one) or, network NULL, on every
 * network: at its removal (or disconnect). Unknown ids are fine. */
int net_unreserve(const char *network, const char *workload_id, struct berth_error *err);

/* Opens an existing tap by name (e.g. in berth-vmm): returns the fd (O_CLOEXEC) or -errno. */
int net_tap_open(const char *ifname, unsigned flags, struct berth_error *err);

/* Removes every attachment of workload_id on every network: host veth/tap, leases, published
 * ports and their nftables rules. Unknown ids are fine (0). */
int net_detach(const char *workload_id, struct berth_error *err);

/* Removes workload_id from one network only (its interface there, lease, and the ports published
 * on that network); -ENOENT when it is not attached to it. */
int net_detach_network(const char *network, const char *workload_id, struct berth_error *err);

/* The workload's current attachments, in interface order (eth0 first). Caller frees *ret. */
int net_attachment_list(const char *workload_id, struct net_attachment **ret, size_t *ret_n, struct berth_error *err);

/* Publishes more ports for an attached workload (on its address in network, NULL = its first
 * network), or removes all of its published ports. */
int net_publish(const char *network, const char *workload_id, const struct net_port *ports, size_t n_ports,
                struct berth_error *err);
int net_unpublish(const char *workload_id, struct berth_error *err);

/* Writes etc/hosts (localhost lines plus "IP hostname" for every attachment) and etc/resolv.conf
 * ("nameserver DNS", "search berth", "options ndots:0") into rootfs_dir, creating etc/ if needed.
 * Paths are resolved inside the root (openat2 RESOLVE_IN_ROOT, no symlink follows) and each file
 * is replaced atomically, so a hostile image's symlinked /etc/hosts cannot redirect the write.
 * n may be 0 (no network: hosts gets localhost only and resolv.conf is copied from the host). */
int net_write_etc_files(const char *rootfs_dir, const struct net_attachment *a, size_t n, const char *hostname,
                        struct berth_error *err);

/* Same contents as text, for callers that write elsewhere (bind-mounted files). Caller frees. */
int net_format_hosts(const struct net_attachment *a, size_t n, const char *hostname, char **ret);
int net_format_resolv_conf(const struct net_attachment *a, size_t n, char **ret);
