#include "containers/seccomp-profile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "runtime/security.h"

#define PROFILE_MAX (4u << 20)
#define ERRNO_EPERM 1
#define ERRNO_ENOSYS 38

/* System calls denied with EPERM unless the container holds one of the capabilities named (NULL:
 * always denied). The list follows what Docker's default profile documents as blocked and why:
 * kernel state that is not namespaced (keyrings, clock, modules, kexec, swap, accounting, NUMA
 * policy of the host's memory), filesystem and namespace changes (mount, unshare, setns,
 * pivot_root; they need CAP_SYS_ADMIN anyway, the filter keeps the kernel's code paths out of
 * reach), raw I/O and obsolete calls with a history of bugs. ptrace and process_vm_* stay allowed
 * (safe since Linux 4.8, and debuggers need them), as does a read-only adjtimex. */
static const struct gate {
    const char *caps[2];
    const char *names[20];
} gates[] = {
    { { NULL }, { "add_key", "keyctl", "request_key", "create_module", "get_kernel_syms", "query_module",
                  "nfsservctl", "uselib", "ustat", "sysfs", "_sysctl", "vm86", "vm86old", "userfaultfd", NULL } },
    { { "CAP_SYS_ADMIN" }, { "mount", "umount", "umount2", "pivot_root", "unshare", "setns", "swapon", "swapoff",
                             "quotactl", "quotactl_fd", "name_to_handle_at", "lookup_dcookie", "fsopen", "fsconfig",
                             "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", NULL } },
    { { "CAP_SYS_ADMIN" }, { "sethostname", "setdomainname", "fanotify_init", NULL } },
    { { "CAP_SYS_MODULE" }, { "init_module", "finit_module", "delete_module", NULL } },
    { { "CAP_SYS_BOOT" }, { "reboot", "kexec_load", "kexec_file_load", NULL } },
    { { "CAP_SYS_TIME" }, { "settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime",
                            "clock_adjtime64", NULL } },
    { { "CAP_SYS_RAWIO" }, { "iopl", "ioperm", NULL } },
    { { "CAP_SYS_PACCT" }, { "acct", NULL } },
    { { "CAP_SYS_NICE" }, { "get_mempolicy", "set_mempolicy", "mbind", "move_pages", NULL } },
    { { "CAP_SYS_PTRACE" }, { "kcmp", "pidfd_getfd", NULL } },
    { { "CAP_DAC_READ_SEARCH" }, { "open_by_handle_at", NULL } },
    { { "CAP_SYSLOG", "CAP_SYS_ADMIN" }, { "syslog", NULL } },
    { { "CAP_BPF", "CAP_SYS_ADMIN" }, { "bpf", NULL } },
    { { "CAP_PERFMON", "CAP_SYS_ADMIN" }, { "perf_event_open", NULL } },
};

/* clone() flags that create namespaces (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
 * NEWNET): denied without CAP_SYS_ADMIN like unshare. */
static const unsigned long clone_ns_flags[] = { 0x00020000, 0x02000000, 0x04000000, 0x08000000,
                                                0x10000000, 0x20000000, 0x40000000 };

static bool has_cap(json_t *caps, const char *cap)
{
    size_t i;
    json_t *x;
    json_array_foreach(caps, i, x) {
        if (json_is_string(x) && !strcmp(json_string_value(x), cap))
            return true;
    }
    return false;
}

static void native_arches(json_t *arr)
{
#if defined(__x86_64__)
    /* The 32-bit ABIs stay usable and filtered: left out, their calls would kill the process. */
    json_array_append_new(arr, json_string("SCMP_ARCH_X86_64"));
    json_array_append_new(arr, json_string("SCMP_ARCH_X86"));
    json_array_append_new(arr, json_string("SCMP_ARCH_X32"));
#elif defined(__aarch64__)
    json_array_append_new(arr, json_string("SCMP_ARCH_AARCH64"));
    json_array_append_new(arr, json_string("SCMP_ARCH_ARM"));
#endif
}

json_t *ctr_seccomp_default(json_t *caps)
{
    json_t *names = json_array(), *syscalls = json_array(), *arches = json_array();
    for (size_t g = 0; g < sizeof(gates) / sizeof(gates[0]); g++) {
        bool allowed = false;
        for (size_t c = 0; c < 2 && gates[g].caps[c]; c++)
            allowed = allowed || has_cap(caps, gates[g].caps[c]);
        if (allowed)
            continue;
        for (size_t n = 0; gates[g].names[n]; n++)
            json_array_append_new(names, json_string(gates[g].names[n]));
    }
    json_array_append_new(syscalls, json_pack("{s:o, s:s, s:i}", "names", names, "action", "SCMP_ACT_ERRNO",
                                              "errnoRet", ERRNO_EPERM));
    if (!has_cap(caps, "CAP_SYS_ADMIN")) {
        for (size_t i = 0; i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]); i++)
            json_array_append_new(
                syscalls, json_pack("{s:[s], s:s, s:i, s:[{s:i, s:I, s:I, s:s}]}", "names", "clone", "action",
                                    "SCMP_ACT_ERRNO", "errnoRet", ERRNO_EPERM, "args", "index", 0, "value",
                                    (json_int_t) clone_ns_flags[i], "valueTwo", (json_int_t) clone_ns_flags[i], "op",
                                    "SCMP_CMP_MASKED_EQ"));
        /* clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to
         * clone, whose flags the rules above see. */
        json_array_append_new(syscalls, json_pack("{s:[s], s:s, s:i}", "names", "clone3", "action", "SCMP_ACT_ERRNO",
                                                  "errnoRet", ERRNO_ENOSYS));
    }
    native_arches(arches);
    return json_pack("{s:s, s:o, s:o}", "defaultAction", "SCMP_ACT_ALLOW", "architectures", arches, "syscalls",
                     syscalls);
}

/* Docker's names for this machine in includes/excludes.arches. */
static bool arch_matches(json_t *arches)
{
    size_t i;
    json_t *x;
    json_array_foreach(arches, i, x) {
        const char *a = json_string_value(x);
#if defined(__x86_64__)
        if (a && (!strcmp(a, "amd64") || !strcmp(a, "x86_64") || !strcmp(a, "SCMP_ARCH_X86_64")))
            return true;
#elif defined(__aarch64__)
        if (a && (!strcmp(a, "arm64") || !strcmp(a, "aarch64") || !strcmp(a, "SCMP_ARCH_AARCH64")))
            return true;
#endif
    }
    return false;
}

/* "5.8" <= the running kernel's release. */
static bool kernel_at_least(const char *want)
{
    struct utsname u;
    unsigned wa = 0, wb = 0, ka = 0, kb = 0;
    if (uname(&u) < 0 || sscanf(want, "%u.%u", &wa, &wb) < 1 || sscanf(u.release, "%u.%u", &ka, &kb) < 1)
        return true;
    return ka > wa || (ka == wa && kb >= wb);
}

/* Docker's conditional rules: includes must all hold, excludes must all fail. */
static bool rule_applies(json_t *rule, json_t *caps)
{
    json_t *inc = json_object_get(rule, "includes"), *exc = json_object_get(rule, "excludes");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(inc, "caps"), i, x) {
        if (!json_is_string(x) || !has_cap(caps, json_string_value(x)))
            return false;
    }
    json_t *ia = json_object_get(inc, "arches");
    if (json_array_size(ia) && !arch_matches(ia))
        return false;
    const char *mk = json_string_value(json_object_get(inc, "minKernel"));
    if (mk && !kernel_at_least(mk))
        return false;
    json_array_foreach(json_object_get(exc, "caps"), i, x) {
        if (json_is_string(x) && has_cap(caps, json_string_value(x)))
            return false;
    }
    json_t *ea = json_object_get(exc, "arches");
    if (json_array_size(ea) && arch_matches(ea))
        return false;
    return true;
}

/* An OCI linux.seccomp object from a profile in either format (OCI passes through unchanged). */
static int profile_to_oci(json_t *profile, json_t *caps, json_t **ret, struct berth_error *err)
{
    if (!json_is_object(profile))
        return berth_error_set(err, -EINVAL, "seccomp profile: must be a JSON object");
    json_t *out = json_deep_copy(profile);
    if (!out)
        return -ENOMEM;
    json_t *arch_map = json_object_get(out, "archMap");
    if (json_is_array(arch_map) && !json_object_get(out, "architectures")) {
        json_t *arches = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(arch_map, i, m) {
            json_t *a = json_object_get(m, "architecture");
            json_t *one = json_array();
            json_array_append(one, a);
            if (!arch_matches(one)) {
                json_decref(one);
                continue;
            }
            json_decref(one);
            json_array_append(arches, a);
            json_array_extend(arches, json_object_get(m, "subArchitectures"));
        }
        json_object_set_new(out, "architectures", arches);
    }
    json_object_del(out, "archMap");
    json_t *syscalls = json_object_get(out, "syscalls");
    if (json_is_array(syscalls)) {
        json_t *kept = json_array();
        size_t i;
        json_t *rule;
        json_array_foreach(syscalls, i, rule) {
            if (!json_is_object(rule)) {
                json_decref(kept);
                json_decref(out);
                return berth_error_set(err, -EINVAL, "seccomp profile: syscalls[%zu]: must be an object", i);
            }
            if (!rule_applies(rule, caps))
                continue;
            json_t *r = json_deep_copy(rule);
            json_t *name = json_object_get(r, "name"); /* Docker's older one-name form */
            if (json_is_string(name) && !json_object_get(r, "names"))
                json_object_set_new(r, "names", json_pack("[O]", name));
            json_object_del(r, "name");
            json_object_del(r, "includes");
            json_object_del(r, "excludes");
            json_object_del(r, "comment");
            json_array_append_new(kept, r);
        }
        json_object_set_new(out, "syscalls", kept);
    }
    *ret = out;
    return 0;
}

int ctr_seccomp_config(json_t *spec, json_t *caps, json_t **ret, struct berth_error *err)
{
    json_t *choice = json_object_get(spec, "seccomp");
    if (json_is_string(choice) && !strcmp(json_string_value(choice), "unconfined")) {
        *ret = NULL;
        return 0;
    }
    if (!choice || json_is_null(choice)) {
        *ret = ctr_seccomp_default(caps);
        return *ret ? 0 : -ENOMEM;
    }
    json_t *oci = NULL;
    int r = profile_to_oci(choice, caps, &oci, err);
    if (r < 0)
        return r;
    /* Checked now, so a bad profile fails `berth run` with its field named, not the start. */
    if ((r = seccomp_check_spec(oci, err)) < 0) {
        json_decref(oci);
        return berth_error_prefix(err, r, "seccomp profile: ");
    }
    *ret = oci;
    return 0;
}

int ctr_security_opt(json_t *spec, const char *opt, struct berth_error *err)
{
    if (!strcmp(opt, "no-new-privileges") || !strcmp(opt, "no-new-privileges=true") ||
        !strcmp(opt, "no-new-privileges:true"))
        return 0; /* always on in berth containers */
    const char *value = NULL;
    if (!strncmp(opt, "seccomp=", 8) || !strncmp(opt, "seccomp:", 8))
        value = opt + 8;
    if (!value)
        return berth_error_set(err, -EINVAL,
                               "--security-opt '%s': expected seccomp=unconfined, seccomp=PROFILE.json or "
                               "no-new-privileges", opt);
    if (!*value)
        return berth_error_set(err, -EINVAL, "--security-opt '%s': a profile file or 'unconfined' is needed", opt);
    if (!strcmp(value, "unconfined"))
        return json_object_set_new(spec, "seccomp", json_string("unconfined")) < 0 ? -ENOMEM : 0;
    json_t *profile = NULL;
    int r = json_load_path(value, PROFILE_MAX, &profile, err);
    if (r < 0)
        return berth_error_prefix(err, r, "--security-opt seccomp: ");
    if (!json_is_object(profile)) {
        json_decref(profile);
        return berth_error_set(err, -EINVAL, "--security-opt seccomp: %s: a seccomp profile is a JSON object", value);
    }
    /* Kept in the run options (the record), so a restart does not depend on the file any more. */
    return json_object_set_new(spec, "seccomp", profile) < 0 ? -ENOMEM : 0;
}
