#include "net/network.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "net/nft.h"

static int lock_file(const char *name, bool exclusive, struct berth_error *err)
{
    _cleanup_free_ char *dir = fs_path_join(berth_runtime_dir(), "net");
    if (!dir)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = fs_mkdir_p(dir, 0700);
    if (r < 0)
        return berth_error_errno(err, r, "%s", dir);
    _cleanup_free_ char *path = fs_path_join(dir, name);
    if (!path)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return berth_error_errno(err, -errno, "%s", path);
    while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
        if (errno != EINTR) {
            r = -errno;
            close(fd);
            return berth_error_errno(err, r, "%s: lock", path);
        }
    }
    return fd;
}

int network_lock(bool exclusive, struct berth_error *err)
{
    return lock_file("net.lock", exclusive, err);
}

static void sysctl_set(const char *path, const char *value)
{
    /* Best effort: a read-only /proc/sys (some sandboxes) must not block networking that does
     * not need the knob (internal networks, no published ports). */
    fs_write_string(path, value);
}

int network_ensure_up(struct nl *nl, const struct net_network *nw, struct berth_error *err)
{
    if (nl_link_index(nl, nw->bridge) < 0) {
        /* Serialise bring-up so two first users do not both add the rules. */
        _cleanup_close_ int lk = lock_file("setup.lock", true, err);
        if (lk < 0)
            return lk;
        if (nl_link_index(nl, nw->bridge) < 0) {
            /* A fixed MAC, stable for the network (see nl_bridge_add). */
            char macs[NET_MAC_STRLEN], key[NET_NAME_MAX + 8];
            uint8_t mac[6];
            snprintf(key, sizeof(key), "bridge:%s", nw->name);
            ipam_mac_for(key, 0, macs);
            int r = ipam_parse_mac(macs, mac, err);
            if (r < 0)
                return r;
            r = nl_bridge_add(nl, nw->bridge, mac, nw->mtu, err);
            if (r < 0 && r != -EEXIST)
                return r;
            r = nl_addr_add(nl, nw->bridge, nw->gateway, nw->subnet.prefix, err);
            if (r < 0)
                return berth_error_prefix(err, r, "network '%s': ", nw->name);
            r = nl_link_set(nl, nw->bridge, NULL, true, err);
            if (r < 0)
                return r;
            sysctl_set("/proc/sys/net/ipv4/ip_forward", "1");
            char knob[128];
            snprintf(knob, sizeof(knob), "/proc/sys/net/ipv4/conf/%s/route_localnet", nw->bridge);
            sysctl_set(knob, "1");
            r = nft_ensure_base(err);
            if (r < 0)
                return r;
            char tag[NET_NAME_MAX + 8];
            snprintf(tag, sizeof(tag), "net:%s", nw->name);
            r = nft_delete_tagged(tag, err);
            if (r < 0)
                return r;
            r = nft_network_add(nw, err);
            if (r < 0)
                return r;
        }
    }
    return dns_ensure_running(nw->name, err);
}

int network_default_subnet(struct net_cidr *ret, struct berth_error *err);

/* The record of a new network (validated, subnet chosen), nothing brought up yet. */
static int network_define(struct store *s, const char *name, const struct net_create_opts *opts,
                          struct net_network *ret, struct berth_error *err)
{
    struct net_network nw;
    memset(&nw, 0, sizeof(nw));
    int r = ipam_check_name("network name", name, err);
    if (r < 0)
        return r;
    snprintf(nw.name, sizeof(nw.name), "%s", name);
    if (!strcmp(name, NET_DEFAULT_NETWORK))
        snprintf(nw.bridge, sizeof(nw.bridge), "%s", NET_DEFAULT_BRIDGE);
    if (opts && opts->subnet) {
        r = cidr_parse(opts->subnet, &nw.subnet, err);
        if (r < 0)
            return berth_error_prefix(err, r, "--subnet: ");
    } else if (!strcmp(name, NET_DEFAULT_NETWORK)) {
        r = network_default_subnet(&nw.subnet, err);
        if (r < 0)
            return r;
    } else {
        r = ipam_pick_subnet(s, &nw.subnet, err);
        if (r < 0)
            return r;
    }
    if (opts && opts->gateway) {
        if (!opts->subnet)
            return berth_error_set(err, -EINVAL, "--gateway needs --subnet");
        r = cidr_parse_ip(opts->gateway, &nw.gateway, err);
        if (r < 0)
            return berth_error_prefix(err, r, "--gateway: ");
    }
    nw.internal = opts && opts->internal;
    nw.mtu = opts ? opts->mtu : 0;
    r = ipam_network_insert(s, &nw, err);
    if (r < 0)
        return r;
    *ret = nw;
    return 0;
}

int network_create(struct store *s, const char *name, const struct net_create_opts *opts, struct net_network *ret,
                   struct berth_error *err)
{
    struct net_network nw;
    int r = network_define(s, name, opts, &nw, err);
    if (r < 0)
        return r;
    _cleanup_nl_ struct nl *nl = NULL;
    r = nl_open(&nl, err);
    if (r >= 0)
        r = network_ensure_up(nl, &nw, err);
    if (r < 0) {
        /* Nothing half-made stays behind: the record goes with whatever was set up. */
        struct berth_error ignore = { 0 };
        network_remove(s, name, &ignore);
        return r;
    }
    if (ret)
        *ret = nw;
    return 0;
}

int network_remove(struct store *s, const char *name, struct berth_error *err)
{
    struct net_network nw;
    int r = ipam_network_get(s, name, &nw, err);
    if (r < 0)
        return r;
    r = ipam_network_delete(s, name, err);
    if (r < 0)
        return r;
    dns_stop(name);
    char tag[NET_NAME_MAX + 8];
    snprintf(tag, sizeof(tag), "net:%s", name);
    r = nft_delete_tagged(tag, err);
    if (r < 0)
        return r;
    _cleanup_nl_ struct nl *nl = NULL;
    r = nl_open(&nl, err);
    if (r < 0)
        return r;
    r = nl_link_del(nl, nw.bridge, err);
    if (r < 0 && r != -ENODEV)
        return r;
    return 0;
}

/* The network called name; the default one is made when missing, brought up or (up false) only
 * recorded. */
static int resolve(struct store *s, const char *name, bool up, struct net_network *ret, struct berth_error *err)
{
    if (!name || !*name)
        name = NET_DEFAULT_NETWORK;
    struct berth_error inner = { 0 };
    int r = ipam_network_get(s, name, ret, &inner);
    if (r == 0)
        return 0;
    if (r != -ENOENT || strcmp(name, NET_DEFAULT_NETWORK))
        return berth_error_set(err, r, "%s", inner.msg);
    r = up ? network_create(s, name, NULL, ret, err) : network_define(s, name, NULL, ret, err);
    if (r == -EEXIST) {
        /* Another berth created it first. */
        berth_error_clear(err);
        return ipam_network_get(s, name, ret, err);
    }
    return r;
}

int network_resolve(struct store *s, const char *name, struct net_network *ret, struct berth_error *err)
{
    return resolve(s, name, true, ret, err);
}

int network_resolve_record(struct store *s, const char *name, struct net_network *ret, struct berth_error *err)
{
    return resolve(s, name, false, ret, err);
}

struct link_scan {
    char **veths;     /* bv…, bt… */
    char **bridges;   /* berthN */
};

static int scan_link(const char *name, const char *kind, void *userdata)
{
    struct link_scan *ls = userdata;
    if ((!strncmp(name, "bv", 2) && !strcmp(kind, "veth")) || (!strncmp(name, "bt", 2) && !strcmp(kind, "tun")))
        return strv_push(&ls->veths, name);
    /* Only names berth gives its bridges (berth0, berth1, ...), never a user's "berth-lan". */
    if (!strncmp(name, "berth", 5) && name[5] && strspn(name + 5, "0123456789") == strlen(name + 5) &&
        !strcmp(kind, "bridge"))
        return strv_push(&ls->bridges, name);
    return 0;
}

int network_reconcile(struct store *s, struct net_reconcile_stats *ret, struct berth_error *err)
{
    struct net_reconcile_stats st = { 0 };
    _cleanup_close_ int lk = network_lock(true, err);
    if (lk < 0)
        return lk;
    _cleanup_nl_ struct nl *nl = NULL;
    int r = nl_open(&nl, err);
    if (r < 0)
        return r;
    _cleanup_free_ struct net_network *nets = NULL;
    size_t n_nets = 0;
    r = ipam_network_list(s, &nets, &n_nets, err);
    if (r < 0)
        return r;
    struct link_scan ls = { 0 };
    r = nl_link_foreach(nl, scan_link, &ls, err);
    _cleanup_strv_ char **veths = ls.veths;
    _cleanup_strv_ char **bridges = ls.bridges;
    if (r < 0)
        return r;

    _cleanup_free_ struct net_lease *leases = NULL;
    size_t n_leases = 0;
    r = ipam_lease_list(s, NULL, NULL, &leases, &n_leases, err);
    if (r < 0)
        return r;
    /* Container leases whose host veth is gone: the container's namespace died without detach. */
    for (size_t i = 0; i < n_leases; i++) {
        struct net_lease *l = &leases[i];
        if (strcmp(l->kind, "container"))
            continue;
        bool present = false;
        for (char **v = veths; v && *v && !present; v++)
            present = !strcmp(*v, l->host_ifname);
        if (present)
            continue;
        r = ipam_lease_release(s, l->network, l->workload, err);
        if (r < 0)
            return r;
        l->kind[0] = 0; /* released */
        st.leases_released++;
    }
    /* Host ends without a lease: a crash between creating the link and recording, or after. */
    for (char **v = veths; v && *v; v++) {
        bool owned = false;
        for (size_t i = 0; i < n_leases && !owned; i++)
            owned = leases[i].kind[0] && !strcmp(leases[i].host_ifname, *v);
        if (owned)
            continue;
        struct berth_error ignore = { 0 };
        if (nl_link_del(nl, *v, &ignore) == 0)
            st.links_removed++;
    }
    for (char **b = bridges; b && *b; b++) {
        bool owned = false;
        for (size_t i = 0; i < n_nets && !owned; i++)
            owned = !strcmp(nets[i].bridge, *b);
        struct berth_error ignore = { 0 };
        if (!owned && nl_link_del(nl, *b, &ignore) == 0)
            st.links_removed++;
    }
    /* Port claims whose workload holds no lease any more, then rules without an owner. */
    _cleanup_free_ struct net_port_claim *claims = NULL;
    size_t n_claims = 0;
    r = ipam_port_list(s, NULL, &claims, &n_claims, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n_claims; i++) {
        bool held = false;
        for (size_t k = 0; k < n_leases && !held; k++)
            held = leases[k].kind[0] && !strcmp(leases[k].workload, claims[i].workload);
        if (!held) {
            r = ipam_port_release(s, claims[i].workload, err);
            if (r < 0)
                return r;
            claims[i].workload[0] = 0;
        }
    }
    _cleanup_strv_ char **tags = NULL;
    r = nft_list_tags(&tags, err);
    if (r < 0)
        return r;
    for (char **t = tags; t && *t; t++) {
        bool owned = false;
        if (!strncmp(*t, "net:", 4)) {
            for (size_t i = 0; i < n_nets && !owned; i++)
                owned = !strcmp(nets[i].name, *t + 4);
        } else if (!strncmp(*t, "wl:", 3)) {
            for (size_t i = 0; i < n_claims && !owned; i++)
                owned = claims[i].workload[0] && !strcmp(claims[i].workload, *t + 3);
        }
        if (owned)
            continue;
        r = nft_delete_tagged(*t, err);
        if (r < 0)
            return r;
        st.rules_removed++;
    }
    for (size_t i = 0; i < n_nets; i++) {
        bool up = nl_link_index(nl, nets[i].bridge) >= 0;
        r = network_ensure_up(nl, &nets[i], err);
        if (r < 0)
            return berth_error_prefix(err, r, "network '%s': ", nets[i].name);
        if (!up)
            st.networks_restored++;
    }
    if (ret)
        *ret = st;
    return 0;
}

int network_reconcile_reservations(struct store *s, int (*exists)(const char *id, void *userdata), void *userdata,
                                   unsigned *ret_released, struct berth_error *err)
{
    *ret_released = 0;
    _cleanup_close_ int lk = network_lock(true, err);
    if (lk < 0)
        return lk;
    _cleanup_strv_ char **holders = NULL;
    int r = ipam_reservation_holders(s, &holders, err);
    if (r < 0)
        return r;
    for (char **h = holders; h && *h; h++) {
        if (exists(*h, userdata) != 0)
            continue;
        r = ipam_unreserve(s, NULL, *h, err);
        if (r < 0)
            return r;
        (*ret_released)++;
    }
    return 0;
}
