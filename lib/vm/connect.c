#include "vm/connect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "net/attach.h"
#include "net/ipam.h"
#include "vm/lifecycle.h"

static int refuse_running(const struct vm_record *rec, const char *verb, struct berth_error *err)
{
    return berth_error_set(err, -EBUSY,
                           "VM %s is running and cannot %s a network interface (no hot-plug): stop it first (berth vm "
                           "stop), or give --network [--ip ADDR] [--network-alias NAME] at berth vm create",
                           rec->name, verb);
}

int vm_network_connect(struct store *s, struct vm_record *rec, const char *network, const char *ip,
                       const char *const *aliases, size_t n_aliases, struct berth_error *err)
{
    int r = vm_refresh_state(s, rec, err);
    if (r < 0)
        return r;
    if (!strcmp(network, "none") || !strcmp(network, "host"))
        return berth_error_set(err, -EINVAL, "network '%s' cannot be connected: a VM without a network is one "
                                             "disconnected from it", network);
    if (!strcmp(rec->network, network))
        return berth_error_set(err, -EEXIST, "VM %s is already connected to network '%s'", rec->name, network);
    if (!strcmp(rec->state, "running"))
        return refuse_running(rec, "add", err);
    if (rec->network[0])
        return berth_error_set(err, -EEXIST, "VM %s is on network '%s' already and a VM has one network interface: "
                                             "disconnect it from '%s' first", rec->name, rec->network, rec->network);
    if (strcmp(network, NET_DEFAULT_NETWORK)) {
        /* The default network is made on first use; any other must exist. */
        _cleanup_store_ struct store *ns = NULL;
        struct net_network nw;
        r = ipam_open(NULL, &ns, err);
        if (r == 0)
            r = ipam_network_get(ns, network, &nw, err);
        if (r < 0)
            return r;
    }
    struct vm_create_opts o = { .ip = ip, .aliases = aliases, .n_aliases = n_aliases };
    r = vm_net_opts_check(&o, network, err);
    if (r < 0)
        return r;
    struct vm_record next = *rec;
    snprintf(next.network, sizeof(next.network), "%s", network);
    next.aliases = NULL;
    vm_record_set_net_opts(&o, &next);
    /* Reserved before the record names the network: a crash in between leaves an address
     * reservation that the VM's rm (or a disconnect) releases, never a record without it. */
    r = vm_net_reserve(&next, err);
    if (r == 0) {
        r = vm_record_update_network(s, &next, err);
        if (r < 0)
            net_unreserve(network, rec->id, NULL);
    }
    if (r < 0) {
        json_decref(next.aliases);
        return r;
    }
    json_decref(rec->aliases);
    *rec = next;
    return 0;
}

int vm_network_disconnect(struct store *s, struct vm_record *rec, const char *network, struct berth_error *err)
{
    int r = vm_refresh_state(s, rec, err);
    if (r < 0)
        return r;
    if (!rec->network[0] || strcmp(rec->network, network))
        return berth_error_set(err, -ENOENT, "VM %s is not connected to network '%s'", rec->name, network);
    if (!strcmp(rec->state, "running"))
        return refuse_running(rec, "remove", err);
    struct vm_record next = *rec;
    next.network[0] = next.ip[0] = 0;
    next.aliases = next.ports = NULL;
    r = vm_record_update_network(s, &next, err);
    if (r < 0)
        return r;
    /* After the record: a crash in between leaves the address held until rm. */
    r = net_unreserve(network, rec->id, err);
    json_decref(rec->aliases);
    json_decref(rec->ports);
    *rec = next;
    return r;
}
