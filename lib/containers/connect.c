#include "containers/connect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "containers/run.h"
#include "net/attach.h"
#include "runtime/container.h"

/* The spec's networks as a fresh array (older records have only "network"). */
static json_t *spec_networks(const json_t *spec)
{
    json_t *list = json_object_get(spec, "networks");
    if (json_is_array(list))
        return json_deep_copy(list);
    const char *single = json_string_value(json_object_get(spec, "network"));
    return single ? json_pack("[s]", single) : json_pack("[s]", "none");
}

/* Records the networks and, for network, its options (opts NULL: none, as after disconnect). */
static int spec_networks_set(struct store *s, struct ctr_record *rec, json_t *list, const char *network,
                             const struct ctr_network_opts *opts, struct berth_error *err)
{
    if (json_array_size(list) == 0)
        json_array_append_new(list, json_string("none"));
    if (json_object_set(rec->spec, "networks", list) < 0 ||
        json_object_set(rec->spec, "network", json_array_get(list, 0)) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    json_t *all = json_object_get(rec->spec, "network_opts");
    if (!json_is_object(all)) {
        all = json_object();
        if (!all || json_object_set_new(rec->spec, "network_opts", all) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
    }
    json_object_del(all, network);
    if (opts && (opts->ip || opts->n_aliases) && json_object_set_new(all, network, ctr_network_opts_json(opts)) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    return ctr_record_update_spec(s, rec, err);
}

int ctr_network_opts_check(const struct ctr_network_opts *o, struct berth_error *err)
{
    return o ? net_request_check_syntax(o->ip, o->aliases, o->n_aliases, NULL, err) : 0;
}

json_t *ctr_network_opts_json(const struct ctr_network_opts *o)
{
    json_t *obj = json_object(), *al = json_array();
    if (!obj || !al) {
        json_decref(obj);
        json_decref(al);
        return NULL;
    }
    if (o->ip)
        json_object_set_new(obj, "ip", json_string(o->ip));
    for (size_t i = 0; i < o->n_aliases; i++)
        json_array_append_new(al, json_string(o->aliases[i]));
    json_object_set_new(obj, "aliases", al);
    return obj;
}

int ctr_network_opts_get(const json_t *spec, const char *network, struct ctr_network_opts *o, const char ***ret_free)
{
    *o = (struct ctr_network_opts){ 0 };
    *ret_free = NULL;
    json_t *obj = json_object_get(json_object_get(spec, "network_opts"), network);
    if (!json_is_object(obj))
        return 0;
    o->ip = json_string_value(json_object_get(obj, "ip"));
    json_t *al = json_object_get(obj, "aliases");
    size_t n = json_array_size(al);
    if (n == 0)
        return 0;
    const char **v = calloc(n, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if ((v[o->n_aliases] = json_string_value(json_array_get(al, i))))
            o->n_aliases++;
    o->aliases = v;
    *ret_free = v;
    return 0;
}

/* The address and aliases the container asks for on network, as attach gets them: network_opts,
 * and for the first network a record's older top-level "ip". */
static int opts_for(const json_t *spec, const char *network, bool first, struct net_attach_opts *ao,
                    const char ***ret_free)
{
    struct ctr_network_opts no;
    if (ctr_network_opts_get(spec, network, &no, ret_free) < 0)
        return -ENOMEM;
    *ao = (struct net_attach_opts){ .ip = no.ip, .aliases = no.aliases, .n_aliases = no.n_aliases };
    if (first && !ao->ip)
        ao->ip = json_string_value(json_object_get(spec, "ip"));
    return 0;
}

int ctr_network_reserve(const struct ctr_record *rec, struct berth_error *err)
{
    _cleanup_json_ json_t *list = spec_networks(rec->spec);
    if (!list)
        return berth_error_set(err, -ENOMEM, "out of memory");
    for (size_t k = 0; k < json_array_size(list); k++) {
        const char *network = json_string_value(json_array_get(list, k));
        if (!network || !strcmp(network, "none") || !strcmp(network, "host"))
            continue;
        struct net_attach_opts ao;
        _cleanup_free_ const char **aliases = NULL;
        if (opts_for(rec->spec, network, k == 0, &ao, &aliases) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
        int r = net_reserve(network, rec->id, rec->name, "container", &ao, err);
        if (r < 0) {
            net_unreserve(NULL, rec->id, NULL);
            return r;
        }
    }
    return 0;
}

static ssize_t list_find(const json_t *list, const char *network)
{
    for (size_t i = 0; i < json_array_size(list); i++)
        if (!strcmp(json_string_value(json_array_get(list, i)) ?: "", network))
            return (ssize_t) i;
    return -1;
}

static int running_pid(const struct ctr_record *rec, pid_t *ret, struct berth_error *err)
{
    _cleanup_free_ char *oci = ctr_oci_root();
    _cleanup_json_ json_t *st = NULL;
    int r = container_state(oci, rec->id, &st, err);
    if (r < 0)
        return r;
    json_int_t pid = json_integer_value(json_object_get(st, "pid"));
    if (pid <= 0)
        return berth_error_set(err, -ESRCH, "container %s has no running process", rec->name);
    *ret = (pid_t) pid;
    return 0;
}

/* /etc/hosts and /etc/resolv.conf as start writes them, from the attachments the container has now. */
static int rewrite_etc(const struct ctr_record *rec, struct berth_error *err)
{
    _cleanup_free_ struct net_attachment *a = NULL;
    size_t n = 0;
    int r = net_attachment_list(rec->id, &a, &n, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *rootfs = ctr_path(rec, "rootfs");
    if (!rootfs)
        return berth_error_set(err, -ENOMEM, "out of memory");
    const char *hostname = json_string_value(json_object_get(rec->spec, "hostname"));
    char short_id[13];
    snprintf(short_id, sizeof(short_id), "%.12s", rec->id);
    return net_write_etc_files(rootfs, a, n, hostname ? hostname : short_id, err);
}

static bool is_live(const struct ctr_record *rec)
{
    return !strcmp(rec->state, "running") || !strcmp(rec->state, "paused");
}

int ctr_network_connect(struct store *s, struct ctr_record *rec, const char *network,
                        const struct ctr_network_opts *opts, struct berth_error *err)
{
    int r0 = ctr_network_opts_check(opts, err);
    if (r0 < 0)
        return r0;
    if (!strcmp(network, "none") || !strcmp(network, "host"))
        return berth_error_set(err, -EINVAL, "network '%s' cannot be connected: use berth run --network %s", network,
                               network);
    int r = ctr_refresh(s, rec, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *list = spec_networks(rec->spec);
    if (!list)
        return berth_error_set(err, -ENOMEM, "out of memory");
    const char *first = json_string_value(json_array_get(list, 0)) ?: "none";
    if (!strcmp(first, "host"))
        return berth_error_set(err, -EINVAL, "container %s uses the host's network: it cannot join network '%s'",
                               rec->name, network);
    if (list_find(list, network) >= 0)
        return berth_error_set(err, -EEXIST, "container %s is already connected to network '%s'", rec->name, network);
    if (!strcmp(first, "none"))
        json_array_clear(list);
    json_array_append_new(list, json_string(network));
    struct net_attach_opts ao = { 0 };
    if (opts)
        ao = (struct net_attach_opts){ .ip = opts->ip, .aliases = opts->aliases, .n_aliases = opts->n_aliases };
    /* The name, address and aliases are held from now on, also while the container is stopped (a
     * stopped one is plumbed at its start, but a wrong address or alias is reported now, as the
     * start would). */
    r = net_reserve(network, rec->id, rec->name, "container", &ao, err);
    if (r < 0)
        return r;
    if (is_live(rec)) {
        pid_t pid = 0;
        r = running_pid(rec, &pid, err);
        struct net_attachment a;
        if (r == 0)
            r = net_attach_container(strcmp(network, NET_DEFAULT_NETWORK) ? network : NULL, rec->id, rec->name,
                                     NULL, pid, &ao, &a, err);
        if (r == 0 && (r = rewrite_etc(rec, err)) < 0)
            net_detach_network(a.network, rec->id, NULL);
    }
    if (r == 0)
        r = spec_networks_set(s, rec, list, network, opts, err);
    if (r < 0)
        net_unreserve(network, rec->id, NULL);
    return r;
}

int ctr_network_disconnect(struct store *s, struct ctr_record *rec, const char *network, struct berth_error *err)
{
    int r = ctr_refresh(s, rec, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *list = spec_networks(rec->spec);
    if (!list)
        return berth_error_set(err, -ENOMEM, "out of memory");
    ssize_t k = list_find(list, network);
    if (k < 0 || !strcmp(network, "none") || !strcmp(network, "host"))
        return berth_error_set(err, -ENOENT, "container %s is not connected to network '%s'", rec->name, network);
    json_array_remove(list, (size_t) k);
    if (is_live(rec)) {
        r = net_detach_network(network, rec->id, err);
        if (r < 0)
            return r;
        r = rewrite_etc(rec, err);
        if (r < 0)
            return r;
    }
    r = spec_networks_set(s, rec, list, network, NULL, err);
    /* After the record: a crash in between leaves the address held until rm, never a record
     * that asks for an address nobody holds for it. */
    return r < 0 ? r : net_unreserve(network, rec->id, err);
}
