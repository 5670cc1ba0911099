/* features.md: one document generated from the same tables the runtime checks specs against
 * (capability names, seccomp actions/operators/archs/flags), so it cannot drift from them. */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>

#include "oci/features.h"
#include "runtime/security.h"

static const char *const hooks[] = {
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop", NULL,
};

static const char *const namespaces[] = {
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts", NULL,
};

/* Options understood in mounts[].options (mount(2) flags, propagation, and the recursive/idmap
 * forms berth does not offer are absent). */
static const char *const mount_options[] = {
    "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime",
    "loud", "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand",
    "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private", "rbind", "relatime", "remount",
    "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "silent", "slave",
    "strictatime", "suid", "symfollow", "sync", "tmpcopyup", "unbindable", NULL,
};

static json_t *strings(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v[i]; i++)
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *capability_names(void)
{
    json_t *a = json_array();
    for (int i = 0; a && i < caps_count(); i++)
        if (json_array_append_new(a, json_string(caps_to_name(i))) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

int oci_features_json(json_t **ret, struct berth_error *err)
{
    const struct scmp_version *v = seccomp_version();
    char seccomp_ver[32];
    snprintf(seccomp_ver, sizeof(seccomp_ver), "%u.%u.%u", v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0);
    json_t *doc = json_pack(
        "{s:s, s:s, s:o*, s:o*, s:{s:o*, s:o*, s:{s:b, s:b, s:b, s:b, s:b}, s:{s:b, s:o*, s:o*, s:o*, s:o*, s:o*},"
        " s:{s:b}, s:{s:b}, s:{s:b}, s:{s:{s:b}}}, s:{s:s, s:s}}",
        "ociVersionMin", "1.0.0", "ociVersionMax", "1.3.0",
        "hooks", strings(hooks),
        "mountOptions", strings(mount_options),
        "linux",
          "namespaces", strings(namespaces),
          "capabilities", capability_names(),
          "cgroup", "v1", 1, "v2", 1, "systemd", 0, "systemdUser", 0, "rdma", 0,
          "seccomp", "enabled", 1, "actions", strings(seccomp_action_names),
            "operators", strings(seccomp_operator_names), "archs", strings(seccomp_arch_names),
            "knownFlags", strings(seccomp_flag_names), "supportedFlags", strings(seccomp_flag_names),
          "apparmor", "enabled", 0,
          "selinux", "enabled", 0,
          "intelRdt", "enabled", 0,
          "mountExtensions", "idmap", "enabled", 0,
        "annotations",
          "io.github.seccomp.libseccomp.version", seccomp_ver,
          "org.opencontainers.runc.checkpoint.enabled", "false");
    if (!doc)
        return berth_error_set(err, -ENOMEM, "features: building the document");
    *ret = doc;
    return 0;
}
