/* Placeholder bodies so callers of attach.h link while the implementation lands. */
#include "net/attach.h"

#include <errno.h>

int net_port_parse(const char *spec, struct net_port *ret, struct berth_error *err)
{
    return berth_error_set(err, -ENOSYS, "%s: port publishing is not implemented yet", spec);
}

int net_attach_container(const char *network, const char *workload_id, const char *name, const char *netns_path,
                         pid_t pid, const struct net_attach_opts *opts, struct net_attachment *ret,
                         struct berth_error *err)
{
    return berth_error_set(err, -ENOSYS, "networking is not implemented yet");
}

int net_attach_vm(const char *network, const char *vm_id, const char *name, const struct net_attach_opts *opts,
                  unsigned flags, struct net_vm_attachment *ret, struct berth_error *err)
{
    return berth_error_set(err, -ENOSYS, "networking is not implemented yet");
}

int net_tap_open(const char *ifname, unsigned flags, struct berth_error *err)
{
    return berth_error_set(err, -ENOSYS, "networking is not implemented yet");
}

int net_detach(const char *workload_id, struct berth_error *err)
{
    return 0;
}

int net_publish(const char *network, const char *workload_id, const struct net_port *ports, size_t n_ports,
                struct berth_error *err)
{
    return berth_error_set(err, -ENOSYS, "networking is not implemented yet");
}

int net_unpublish(const char *workload_id, struct berth_error *err)
{
    return 0;
}

int net_write_etc_files(const char *rootfs_dir, const struct net_attachment *a, size_t n, const char *hostname,
                        struct berth_error *err)
{
    return berth_error_set(err, -ENOSYS, "networking is not implemented yet");
}

int net_format_hosts(const struct net_attachment *a, size_t n, const char *hostname, char **ret)
{
    return -ENOSYS;
}

int net_format_resolv_conf(const struct net_attachment *a, size_t n, char **ret)
{
    return -ENOSYS;
}
