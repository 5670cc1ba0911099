#include "net/attach.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "net/cidr.h"
#include "net/ipam.h"
#include "net/network.h"
#include "net/nft.h"
#include "net/tap.h"

static void fill_attachment(const struct net_network *nw, const struct net_lease *l, struct net_attachment *a)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->network, sizeof(a->network), "%s", nw->name);
    snprintf(a->ifname, sizeof(a->ifname), "%s", l->ifname);
    snprintf(a->host_ifname, sizeof(a->host_ifname), "%s", l->host_ifname);
    cidr_format_ip(l->ip, a->ip);
    a->prefix_len = nw->subnet.prefix;
    cidr_format_ip(cidr_mask(nw->subnet.prefix), a->netmask);
    cidr_format_ip(nw->gateway, a->gateway);
    cidr_format_ip(nw->gateway, a->dns);
    snprintf(a->search, sizeof(a->search), "%s", NET_DNS_DOMAIN);
    snprintf(a->mac, sizeof(a->mac), "%s", l->mac);
    a->mtu = nw->mtu;
}

/* Opens the store, resolves the network and brings it up. */
static int prepare(const char *network, struct store **ret_store, struct nl **ret_nl, struct net_network *ret_nw,
                   struct berth_error *err)
{
    _cleanup_store_ struct store *s = NULL;
    int r = ipam_open(NULL, &s, err);
    if (r < 0)
        return r;
    r = network_resolve(s, network, ret_nw, err);
    if (r < 0)
        return r;
    _cleanup_nl_ struct nl *nl = NULL;
    r = nl_open(&nl, err);
    if (r < 0)
        return r;
    r = network_ensure_up(nl, ret_nw, err);
    if (r < 0)
        return r;
    *ret_store = TAKE_PTR(s);
    *ret_nl = TAKE_PTR(nl);
    return 0;
}

/* A lease this workload already holds on the network whose host link is gone (the container was
 * restarted in a new namespace, the host rebooted under a VM): it keeps its address and MAC. */
static int reuse_lease(struct store *s, struct nl *nl, const char *network, const char *workload, struct net_lease *ret,
                       struct berth_error *err)
{
    _cleanup_free_ struct net_lease *v = NULL;
    size_t n = 0;
    int r = ipam_lease_list(s, network, workload, &v, &n, err);
    if (r < 0)
        return r;
    if (n == 0)
        return 0;
    if (nl_link_index(nl, v[0].host_ifname) >= 0)
        return berth_error_set(err, -EEXIST, "%s is already attached to network '%s' (%s)", workload, network,
                               v[0].host_ifname);
    *ret = v[0];
    return 1;
}

static int lease_get(struct store *s, struct nl *nl, const struct net_network *nw, const char *workload,
                     const char *name, const char *kind, const struct net_attach_opts *opts, struct net_lease *ret,
                     bool *ret_reused, struct berth_error *err)
{
    int r = reuse_lease(s, nl, nw->name, workload, ret, err);
    if (r < 0)
        return r;
    if (r == 1) {
        if (strcmp(ret->kind, kind))
            return berth_error_set(err, -EEXIST, "%s is already attached to network '%s' as a %s", workload,
                                   nw->name, ret->kind);
        *ret_reused = true;
        return 0;
    }
    uint32_t want = 0;
    if (opts && opts->ip) {
        r = cidr_parse_ip(opts->ip, &want, err);
        if (r < 0)
            return berth_error_prefix(err, r, "--ip: ");
    }
    *ret_reused = false;
    return ipam_lease_alloc(s, nw, workload, name, kind, want, opts ? opts->mac : NULL, opts ? opts->ifname : NULL,
                            ret, err);
}

static int publish_locked(struct store *s, const char *network, const char *workload, uint32_t ip,
                          const struct net_port *ports, size_t n, struct berth_error *err)
{
    if (n == 0)
        return 0;
    int r = ipam_port_claim(s, workload, network, ip, ports, n, err);
    if (r < 0)
        return r;
    r = nft_ports_add(workload, ip, ports, n, err);
    if (r < 0) {
        char tag[NET_WORKLOAD_MAX + 4];
        snprintf(tag, sizeof(tag), "wl:%s", workload);
        nft_delete_tagged(tag, NULL);
        ipam_port_release(s, workload, NULL);
    }
    return r;
}

static int configure_inside(int netns_fd, const struct net_network *nw, const struct net_lease *l,
                            struct berth_error *err)
{
    _cleanup_nl_ struct nl *in = NULL;
    int r = nl_open_in_netns(netns_fd, &in, err);
    if (r < 0)
        return r;
    r = nl_link_set(in, "lo", NULL, true, err);
    if (r < 0)
        return r;
    r = nl_addr_add(in, l->ifname, l->ip, nw->subnet.prefix, err);
    if (r < 0)
        return r;
    r = nl_link_set(in, l->ifname, NULL, true, err);
    if (r < 0)
        return r;
    /* The first network of a workload carries its default route; others only their subnet. */
    struct berth_error rerr = { 0 };
    r = nl_route_add_default(in, l->ifname, nw->gateway, &rerr);
    if (r < 0 && r != -EEXIST)
        return berth_error_set(err, r, "%s", rerr.msg);
    return 0;
}

/* What differs between a container and a VM is only how the workload's link is made and undone
 * (a veth whose other end goes into the namespace, a persistent tap); leasing, publishing and
 * rolling back are the same, in attach_workload. plumb() leaves nothing behind when it fails. */
struct plumber {
    const char *kind; /* the lease's kind: "container" or "vm" */
    int (*plumb)(struct plumber *p, struct nl *nl, const struct net_network *nw, const struct net_lease *l,
                 struct berth_error *err);
    void (*unplumb)(struct plumber *p, struct nl *nl, const struct net_lease *l);
};

/* Under the attach lock: network up, lease (reused or new), link, published ports. On failure the
 * link is removed and a new lease released; a reused lease stays (the workload held it before). */
static int attach_workload(const char *network, const char *workload_id, const char *name,
                           const struct net_attach_opts *opts, struct plumber *p, struct net_attachment *ret,
                           struct net_lease *ret_lease, struct berth_error *err)
{
    _cleanup_close_ int lk = network_lock(false, err);
    if (lk < 0)
        return lk;
    _cleanup_store_ struct store *s = NULL;
    _cleanup_nl_ struct nl *nl = NULL;
    struct net_network nw;
    int r = prepare(network, &s, &nl, &nw, err);
    if (r < 0)
        return r;
    struct net_lease l;
    bool reused = false;
    r = lease_get(s, nl, &nw, workload_id, name, p->kind, opts, &l, &reused, err);
    if (r < 0)
        return r;
    if (opts && (opts->n_aliases || reused)) {
        r = ipam_alias_set(s, nw.name, workload_id, opts->aliases, opts->n_aliases, err);
        if (r < 0)
            goto release;
    }
    r = p->plumb(p, nl, &nw, &l, err);
    if (r < 0)
        goto release;
    if (opts && opts->n_ports) {
        r = publish_locked(s, nw.name, workload_id, l.ip, opts->ports, opts->n_ports, err);
        if (r < 0)
            goto unplumb;
    }
    fill_attachment(&nw, &l, ret);
    *ret_lease = l;
    return 0;
unplumb:
    p->unplumb(p, nl, &l);
release:
    if (!reused)
        ipam_lease_release(s, nw.name, workload_id, NULL);
    return r;
}

struct veth_plumber {
    struct plumber base;
    int netns_fd;
    unsigned mtu; /* 0: the network's */
};

static int veth_plumb(struct plumber *p, struct nl *nl, const struct net_network *nw, const struct net_lease *l,
                      struct berth_error *err)
{
    struct veth_plumber *v = (struct veth_plumber *) p;
    uint8_t mac[6];
    int r = ipam_parse_mac(l->mac, mac, err);
    if (r < 0)
        return r;
    r = nl_veth_add(nl, l->host_ifname, l->ifname, v->netns_fd, mac, v->mtu ? v->mtu : nw->mtu, err);
    if (r < 0)
        return r;
    r = nl_link_set(nl, l->host_ifname, nw->bridge, true, err);
    if (r == 0)
        r = configure_inside(v->netns_fd, nw, l, err);
    if (r < 0)
        nl_link_del(nl, l->host_ifname, NULL);
    return r;
}

static void veth_unplumb(struct plumber *p, struct nl *nl, const struct net_lease *l)
{
    /* Deleting the host end takes the namespace's end with it. */
    nl_link_del(nl, l->host_ifname, NULL);
}

int net_attach_container(const char *network, const char *workload_id, const char *name, const char *netns_path,
                         pid_t pid, const struct net_attach_opts *opts, struct net_attachment *ret,
                         struct berth_error *err)
{
    char pathbuf[64];
    if (!netns_path) {
        if (pid <= 0)
            return berth_error_set(err, -EINVAL, "net_attach_container: no network namespace (path or pid) given");
        snprintf(pathbuf, sizeof(pathbuf), "/proc/%d/ns/net", (int) pid);
        netns_path = pathbuf;
    }
    _cleanup_close_ int nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0)
        return berth_error_errno(err, -errno, "%s", netns_path);
    /* Plumbing our own namespace (a --network host container) would add eth0 and a default
     * route to the host itself. */
    struct stat target, self;
    if (fstat(nsfd, &target) < 0 || stat("/proc/thread-self/ns/net", &self) < 0)
        return berth_error_errno(err, -errno, "%s", netns_path);
    if (target.st_dev == self.st_dev && target.st_ino == self.st_ino)
        return berth_error_set(err, -EINVAL, "%s is berth's own network namespace (host network): nothing to attach",
                               netns_path);
    struct veth_plumber v = { .base = { "container", veth_plumb, veth_unplumb }, .netns_fd = nsfd,
                              .mtu = opts ? opts->mtu : 0 };
    struct net_lease l;
    int r = attach_workload(network, workload_id, name, opts, &v.base, ret, &l, err);
    if (r < 0)
        return r;
    if (v.mtu)
        ret->mtu = v.mtu;
    return 0;
}

struct tap_plumber {
    struct plumber base;
    unsigned flags;
    int fd; /* out: bound to the tap */
};

static int tap_plumb(struct plumber *p, struct nl *nl, const struct net_network *nw, const struct net_lease *l,
                     struct berth_error *err)
{
    struct tap_plumber *t = (struct tap_plumber *) p;
    _cleanup_close_ int fd = tap_create(l->host_ifname, t->flags, err);
    if (fd < 0)
        return fd;
    int r = nl_link_set(nl, l->host_ifname, nw->bridge, true, err);
    if (r < 0) {
        tap_destroy(l->host_ifname);
        return r;
    }
    t->fd = TAKE_FD(fd);
    return 0;
}

static void tap_unplumb(struct plumber *p, struct nl *nl, const struct net_lease *l)
{
    struct tap_plumber *t = (struct tap_plumber *) p;
    tap_destroy(l->host_ifname);
    closep(&t->fd);
    t->fd = -1;
}

int net_attach_vm(const char *network, const char *vm_id, const char *name, const struct net_attach_opts *opts,
                  unsigned flags, struct net_vm_attachment *ret, struct berth_error *err)
{
    struct tap_plumber t = { .base = { "vm", tap_plumb, tap_unplumb }, .flags = flags, .fd = -1 };
    struct net_attachment a;
    struct net_lease l;
    int r = attach_workload(network, vm_id, name, opts, &t.base, &a, &l, err);
    if (r < 0)
        return r;
    memset(ret, 0, sizeof(*ret));
    ret->net = a;
    snprintf(ret->kernel_ip, sizeof(ret->kernel_ip), "ip=%s::%s:%s:%s:%s:off:%s", a.ip, a.gateway, a.netmask, l.name,
             l.ifname, a.dns);
    ret->tap_fd = t.fd;
    return 0;
}

static int unpublish_locked(struct store *s, const char *workload_id, struct berth_error *err)
{
    _cleanup_free_ struct net_port_claim *claims = NULL;
    size_t n = 0;
    int r = ipam_port_list(s, workload_id, &claims, &n, err);
    if (r < 0 || n == 0)
        return r;
    char tag[NET_WORKLOAD_MAX + 4];
    snprintf(tag, sizeof(tag), "wl:%s", workload_id);
    r = nft_delete_tagged(tag, err);
    if (r < 0)
        return r;
    return ipam_port_release(s, workload_id, err);
}

/* The attach lock (shared: attaches of different workloads run side by side) and the state
 * database, which every change to a workload's attachments needs together. */
static int lock_and_open(int *lk, struct store **s, struct berth_error *err)
{
    *lk = network_lock(false, err);
    return *lk < 0 ? *lk : ipam_open(NULL, s, err);
}

int net_detach(const char *workload_id, struct berth_error *err)
{
    _cleanup_close_ int lk = -1;
    _cleanup_store_ struct store *s = NULL;
    int r = lock_and_open(&lk, &s, err);
    if (r < 0)
        return r;
    r = unpublish_locked(s, workload_id, err);
    if (r < 0)
        return r;
    _cleanup_free_ struct net_lease *v = NULL;
    size_t n = 0;
    r = ipam_lease_list(s, NULL, workload_id, &v, &n, err);
    if (r < 0 || n == 0)
        return r;
    _cleanup_nl_ struct nl *nl = NULL;
    r = nl_open(&nl, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(v[i].kind, "vm"))
            tap_destroy(v[i].host_ifname);
        /* Deleting the host end of a veth takes the workload's end with it. */
        r = nl_link_del(nl, v[i].host_ifname, err);
        if (r < 0 && r != -ENODEV)
            return r;
        r = ipam_lease_release(s, v[i].network, workload_id, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* lock_and_open, then the workload's leases on network (NULL: on every network); -ENOENT when it
 * has none, since publishing or detaching needs at least one. Caller frees *ret. */
static int lock_and_list_leases(const char *network, const char *workload_id, int *lk, struct store **s,
                                struct net_lease **ret, size_t *ret_n, struct berth_error *err)
{
    int r = lock_and_open(lk, s, err);
    if (r < 0)
        return r;
    _cleanup_free_ struct net_lease *v = NULL;
    size_t n = 0;
    r = ipam_lease_list(*s, network, workload_id, &v, &n, err);
    if (r < 0)
        return r;
    if (n == 0) {
        if (network)
            return berth_error_set(err, -ENOENT, "workload %s is not attached to network '%s'", workload_id, network);
        return berth_error_set(err, -ENOENT, "workload %s is not attached to any network", workload_id);
    }
    *ret = TAKE_PTR(v);
    *ret_n = n;
    return 0;
}

int net_publish(const char *network, const char *workload_id, const struct net_port *ports, size_t n_ports,
                struct berth_error *err)
{
    _cleanup_close_ int lk = -1;
    _cleanup_store_ struct store *s = NULL;
    _cleanup_free_ struct net_lease *v = NULL;
    size_t n = 0;
    int r = lock_and_list_leases(network, workload_id, &lk, &s, &v, &n, err);
    if (r < 0)
        return r;
    return publish_locked(s, v[0].network, workload_id, v[0].ip, ports, n_ports, err);
}

int net_unpublish(const char *workload_id, struct berth_error *err)
{
    _cleanup_close_ int lk = -1;
    _cleanup_store_ struct store *s = NULL;
    int r = lock_and_open(&lk, &s, err);
    if (r < 0)
        return r;
    return unpublish_locked(s, workload_id, err);
}

int net_detach_network(const char *network, const char *workload_id, struct berth_error *err)
{
    _cleanup_close_ int lk = -1;
    _cleanup_store_ struct store *s = NULL;
    _cleanup_free_ struct net_lease *v = NULL;
    size_t n = 0;
    int r = lock_and_list_leases(network, workload_id, &lk, &s, &v, &n, err);
    if (r < 0)
        return r;
    /* Port rules carry one tag per workload: drop them all, then publish again those that live on
     * the workload's other networks. */
    _cleanup_free_ struct net_port_claim *claims = NULL;
    size_t nc = 0;
    r = ipam_port_list(s, workload_id, &claims, &nc, err);
    if (r < 0)
        return r;
    bool here = false;
    for (size_t i = 0; i < nc; i++)
        here |= !strcmp(claims[i].network, network);
    if (here) {
        r = unpublish_locked(s, workload_id, err);
        for (size_t i = 0; r == 0 && i < nc; i++)
            if (strcmp(claims[i].network, network))
                r = publish_locked(s, claims[i].network, workload_id, claims[i].ip, &claims[i].port, 1, err);
        if (r < 0)
            return r;
    }
    _cleanup_nl_ struct nl *nl = NULL;
    r = nl_open(&nl, err);
    if (r < 0)
        return r;
    if (!strcmp(v[0].kind, "vm"))
        tap_destroy(v[0].host_ifname);
    r = nl_link_del(nl, v[0].host_ifname, err);
    if (r < 0 && r != -ENODEV)
        return r;
    return ipam_lease_release(s, network, workload_id, err);
}

int net_attachment_list(const char *workload_id, struct net_attachment **ret, size_t *ret_n, struct berth_error *err)
{
    _cleanup_store_ struct store *s = NULL;
    int r = ipam_open(NULL, &s, err);
    if (r < 0)
        return r;
    _cleanup_free_ struct net_lease *v = NULL;
    size_t n = 0;
    r = ipam_lease_list(s, NULL, workload_id, &v, &n, err);
    if (r < 0)
        return r;
    _cleanup_free_ struct net_attachment *a = calloc(n ? n : 1, sizeof(*a));
    if (!a)
        return berth_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        struct net_network nw;
        r = ipam_network_get(s, v[i].network, &nw, err);
        if (r < 0)
            return r;
        fill_attachment(&nw, &v[i], &a[i]);
    }
    *ret = TAKE_PTR(a);
    *ret_n = n;
    return 0;
}

int net_request_check_syntax(const char *ip, const char *const *aliases, size_t n_aliases, uint32_t *ret_ip,
                             struct berth_error *err)
{
    uint32_t addr = 0;
    if (ip) {
        int r = cidr_parse_ip(ip, &addr, err);
        if (r < 0)
            return berth_error_prefix(err, r, "--ip: ");
    }
    for (size_t i = 0; i < n_aliases; i++) {
        int r = ipam_check_alias(aliases[i], err);
        if (r < 0)
            return r;
    }
    if (ret_ip)
        *ret_ip = addr;
    return 0;
}

int net_reserve(const char *network, const char *workload_id, const char *name, const char *kind,
                const struct net_attach_opts *opts, struct berth_error *err)
{
    static const struct net_attach_opts none = { 0 };
    if (!opts)
        opts = &none;
    bool name_only = !opts->ip && opts->n_aliases == 0;
    if (name_only && (!name || !*name))
        return 0;
    uint32_t ip = 0;
    int r0 = net_request_check_syntax(opts->ip, opts->aliases, opts->n_aliases, &ip, err);
    if (r0 < 0)
        return r0;
    /* Shared, as attaches: a reconcile does not run meanwhile. */
    _cleanup_close_ int lk = -1;
    _cleanup_store_ struct store *s = NULL;
    int r = lock_and_open(&lk, &s, err);
    if (r < 0)
        return r;
    struct net_network nw;
    r = network_resolve_record(s, network, &nw, err);
    /* Only a name to hold on a network that does not exist (yet): nobody can be attached there
     * before it is made, and the start reports the missing network, as it did before names were
     * held. */
    if (r == -ENOENT && name_only) {
        berth_error_clear(err);
        return 0;
    }
    if (r < 0)
        return r;
    return ipam_reserve(s, &nw, workload_id, name, kind, ip, opts->aliases, opts->n_aliases, err);
}

int net_unreserve(const char *network, const char *workload_id, struct berth_error *err)
{
    _cleanup_store_ struct store *s = NULL;
    int r = ipam_open(NULL, &s, err);
    if (r < 0)
        return r;
    return ipam_unreserve(s, network && *network ? network : (network ? NET_DEFAULT_NETWORK : NULL), workload_id,
                          err);
}
