/* The config.json that `berth-oci spec` writes: runc's default shape, limits within this host's. */
#include <stdbool.h>
#include <string.h>

#include "oci/config.h"

static json_t *mount(const char *dest, const char *type, const char *source, const char *opts[])
{
    json_t *o = json_array();
    for (size_t i = 0; opts[i]; i++)
        json_array_append_new(o, json_string(opts[i]));
    return json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type, "source", source,
                     "options", o);
}

static json_t *strings(const char *v[])
{
    json_t *a = json_array();
    for (size_t i = 0; v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *oci_config_default(bool rootless, uid_t uid, gid_t gid)
{
    static const char *caps[] = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", NULL };
    static const char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                 "TERM=xterm", NULL };
    static const char *masked[] = { "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                    "/proc/sched_debug", "/sys/firmware", "/proc/scsi", NULL };
    static const char *ro[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL };
    static const char *o_none[] = { NULL };
    static const char *o_dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k", NULL };
    static const char *o_pts[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL };
    static const char *o_pts_rootless[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", NULL };
    static const char *o_shm[] = { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL };
    static const char *o_mq[] = { "nosuid", "noexec", "nodev", NULL };
    static const char *o_sys[] = { "nosuid", "noexec", "nodev", "ro", NULL };
    static const char *o_sys_rootless[] = { "rbind", "nosuid", "noexec", "nodev", "ro", NULL };
    static const char *o_cg[] = { "nosuid", "noexec", "nodev", "relatime", "ro", NULL };

    json_t *capabilities = json_pack("{s:o, s:o, s:o}", "bounding", strings(caps), "effective", strings(caps),
                                     "permitted", strings(caps));
    /* 1024 stays below any hard limit a host hands out (here root cannot raise nofile past 20000). */
    json_t *rlimits = json_pack("[{s:s, s:i, s:i}]", "type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024);
    json_t *process = json_pack("{s:b, s:{s:i, s:i}, s:[s], s:o, s:s, s:o, s:o, s:b}", "terminal", 1, "user",
                                "uid", 0, "gid", 0, "args", "sh", "env", strings(env), "cwd", "/",
                                "capabilities", capabilities, "rlimits", rlimits, "noNewPrivileges", 1);

    json_t *mounts = json_array();
    json_array_append_new(mounts, mount("/proc", "proc", "proc", o_none));
    json_array_append_new(mounts, mount("/dev", "tmpfs", "tmpfs", o_dev));
    json_array_append_new(mounts, mount("/dev/pts", "devpts", "devpts", rootless ? o_pts_rootless : o_pts));
    json_array_append_new(mounts, mount("/dev/shm", "tmpfs", "shm", o_shm));
    json_array_append_new(mounts, mount("/dev/mqueue", "mqueue", "mqueue", o_mq));
    if (rootless)
        json_array_append_new(mounts, mount("/sys", "none", "/sys", o_sys_rootless));
    else {
        json_array_append_new(mounts, mount("/sys", "sysfs", "sysfs", o_sys));
        json_array_append_new(mounts, mount("/sys/fs/cgroup", "cgroup", "cgroup", o_cg));
    }

    json_t *ns = json_array();
    const char *kinds[] = { "pid", "network", "ipc", "uts", "mount", "cgroup", NULL };
    for (size_t i = 0; kinds[i]; i++) {
        if (rootless && !strcmp(kinds[i], "network"))
            continue;
        json_array_append_new(ns, json_pack("{s:s}", "type", kinds[i]));
    }
    json_t *lnx = json_pack("{s:o, s:o, s:o}", "namespaces", ns, "maskedPaths", strings(masked),
                            "readonlyPaths", strings(ro));
    if (rootless) {
        json_array_append_new(ns, json_pack("{s:s}", "type", "user"));
        json_object_set_new(lnx, "uidMappings",
                            json_pack("[{s:i, s:I, s:i}]", "containerID", 0, "hostID", (json_int_t) uid, "size", 1));
        json_object_set_new(lnx, "gidMappings",
                            json_pack("[{s:i, s:I, s:i}]", "containerID", 0, "hostID", (json_int_t) gid, "size", 1));
    } else {
        json_object_set_new(lnx, "resources",
                            json_pack("{s:[{s:b, s:s}]}", "devices", "allow", 0, "access", "rwm"));
    }
    return json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.2.0", "process", process,
                     "root", "path", "rootfs", "readonly", 1, "hostname", "berth", "mounts", mounts,
                     "linux", lnx);
}
