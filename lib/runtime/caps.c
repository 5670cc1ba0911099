/* process.capabilities: the five sets, named as in the runtime spec ("CAP_NET_ADMIN"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "runtime/security.h"

/* Our own table (not libcap's) so names unknown to the spec are an error here, whatever the
 * libcap version, and `features` can list exactly what we accept. Index = capability number. */
static const char *const cap_names[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

#define N_CAPS ((int) (sizeof(cap_names) / sizeof(cap_names[0])))

static const char *const set_names[] = { "bounding", "effective", "permitted", "inheritable", "ambient" };
enum { SET_BOUNDING, SET_EFFECTIVE, SET_PERMITTED, SET_INHERITABLE, SET_AMBIENT, N_SETS };

int caps_from_name(const char *name)
{
    for (int i = 0; i < N_CAPS; i++)
        if (strcasecmp(name, cap_names[i]) == 0)
            return i;
    return -EINVAL;
}

const char *caps_to_name(int cap)
{
    return cap >= 0 && cap < N_CAPS ? cap_names[cap] : NULL;
}

int caps_count(void)
{
    return N_CAPS;
}

/* The highest capability the running kernel knows; newer ones in a spec are skipped (as runc). */
static int kernel_last_cap(void)
{
    static int last = -1;
    if (last >= 0)
        return last;
    _cleanup_free_ char *s = NULL;
    if (fs_read_file("/proc/sys/kernel/cap_last_cap", 64, &s, NULL, NULL) == 0)
        last = atoi(s);
    if (last <= 0)
        last = CAP_LAST_CAP;
    return last;
}

static int parse_sets(json_t *caps, uint64_t sets[N_SETS], struct berth_error *err)
{
    memset(sets, 0, sizeof(uint64_t) * N_SETS);
    if (!caps || json_is_null(caps))
        return 0;
    if (!json_is_object(caps))
        return berth_error_set(err, -EINVAL, "process.capabilities: must be an object");
    for (int s = 0; s < N_SETS; s++) {
        json_t *arr = json_object_get(caps, set_names[s]);
        if (!arr || json_is_null(arr))
            continue;
        if (!json_is_array(arr))
            return berth_error_set(err, -EINVAL, "process.capabilities.%s: must be an array of names", set_names[s]);
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
            if (!json_is_string(v))
                return berth_error_set(err, -EINVAL, "process.capabilities.%s[%zu]: must be a string", set_names[s], i);
            int c = caps_from_name(json_string_value(v));
            if (c < 0)
                return berth_error_set(err, -EINVAL, "process.capabilities.%s: unknown capability '%s'", set_names[s],
                                       json_string_value(v));
            sets[s] |= UINT64_C(1) << c;
        }
    }
    return 0;
}

int caps_check_spec(json_t *capabilities, struct berth_error *err)
{
    uint64_t sets[N_SETS];
    return parse_sets(capabilities, sets, err);
}

int caps_keep_for_setuid(struct berth_error *err)
{
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return berth_error_errno(err, -errno, "capabilities: PR_SET_KEEPCAPS");
    return 0;
}

DEFINE_CLEANUP_FUNC(void, cap_free)

int caps_apply(json_t *capabilities, struct berth_error *err)
{
    uint64_t sets[N_SETS];
    int r = parse_sets(capabilities, sets, err);
    if (r < 0)
        return r;
    int last = kernel_last_cap();

    /* After a uid change with PR_SET_KEEPCAPS the permitted set survives but the effective set is
     * empty: raise it again so that CAP_SETPCAP (bounding drops) and CAP_SETFCAP-like checks of
     * cap_set_proc below pass. */
    {
        _cleanup_(cap_freep) void *cur = cap_get_proc();
        if (!cur)
            return berth_error_errno(err, -errno, "capabilities: reading the current sets");
        for (int c = 0; c <= last; c++) {
            cap_flag_value_t v = CAP_CLEAR;
            cap_value_t cv = c;
            if (cap_get_flag(cur, cv, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
                cap_set_flag(cur, CAP_EFFECTIVE, 1, &cv, CAP_SET);
        }
        cap_set_proc(cur);
    }

    for (int c = 0; c <= last; c++) {
        if (c < N_CAPS && (sets[SET_BOUNDING] & (UINT64_C(1) << c)))
            continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return berth_error_errno(err, -errno, "capabilities: dropping %s from the bounding set",
                                     c < N_CAPS ? cap_names[c] : "an unnamed capability");
    }

    _cleanup_(cap_freep) void *want = cap_init();
    if (!want)
        return -ENOMEM;
    static const cap_flag_t flags[] = { [SET_EFFECTIVE] = CAP_EFFECTIVE, [SET_PERMITTED] = CAP_PERMITTED,
                                        [SET_INHERITABLE] = CAP_INHERITABLE };
    for (int s = SET_EFFECTIVE; s <= SET_INHERITABLE; s++)
        for (int c = 0; c < N_CAPS && c <= last; c++) {
            cap_value_t cv = c;
            if (sets[s] & (UINT64_C(1) << c))
                cap_set_flag(want, flags[s], 1, &cv, CAP_SET);
        }
    if (cap_set_proc(want) < 0)
        return berth_error_errno(err, -errno,
                                 "capabilities: setting the effective/permitted/inheritable sets "
                                 "(effective and inheritable must be within permitted)");

    /* Ambient last: the kernel only keeps an ambient capability that is permitted and inheritable. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && sets[SET_AMBIENT])
        return berth_error_errno(err, -errno, "capabilities: this kernel has no ambient capabilities");
    /* An ambient capability the process is not allowed to hold (not both permitted and
     * inheritable) is skipped, not an error: `runc spec` itself writes ambient without
     * inheritable, and runc and crun only warn. */
    uint64_t ambient = sets[SET_AMBIENT] & sets[SET_PERMITTED] & sets[SET_INHERITABLE];
    for (int c = 0; c < N_CAPS && c <= last; c++) {
        if (!(ambient & (UINT64_C(1) << c)))
            continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
            return berth_error_errno(err, -errno,
                                     "capabilities: raising ambient %s (it must also be permitted and inheritable)",
                                     cap_names[c]);
    }
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return berth_error_errno(err, -errno, "capabilities: PR_SET_KEEPCAPS");
    return 0;
}
