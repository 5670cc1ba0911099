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

static int spec_networks_set(struct store *s, struct ctr_record *rec, json_t *list, struct berth_error *err)
{
    if (json_array_size(list) == 0)
        json_array_append_new(list, json_string("none"));
    if (json_object_set(rec->spec, "networks", list) < 0 ||
        json_object_set(rec->spec, "network", json_array_get(list, 0)) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    return ctr_record_update_spec(s, rec, err);
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

int ctr_network_connect(struct store *s, struct ctr_record *rec, const char *network, struct berth_error *err)
{
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
    if (is_live(rec)) {
        pid_t pid = 0;
        r = running_pid(rec, &pid, err);
        if (r < 0)
            return r;
        struct net_attachment a;
        r = net_attach_container(strcmp(network, NET_DEFAULT_NETWORK) ? network : NULL, rec->id, rec->name, NULL,
                                 pid, NULL, &a, err);
        if (r < 0)
            return r;
        r = rewrite_etc(rec, err);
        if (r < 0) {
            net_detach_network(a.network, rec->id, NULL);
            return r;
        }
    }
    return spec_networks_set(s, rec, list, err);
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
    return spec_networks_set(s, rec, list, err);
}
