/* linux.seccomp through libseccomp: default action, architectures, flags, per-syscall actions
 * with argument conditions. */
#include <errno.h>
#include <ctype.h>
#include <inttypes.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "runtime/seccomp-internal.h"
#include "runtime/security.h"

#define W "linux.seccomp"
#define MAX_SYSCALL_RULES 8192

const char *const seccomp_action_names[] = {
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", NULL,
};

const char *const seccomp_operator_names[] = {
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ", NULL,
};
static const enum scmp_compare operator_values[] = {
    SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ,
};

const char *const seccomp_arch_names[] = {
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", NULL,
};

const char *const seccomp_flag_names[] = {
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
#ifdef SCMP_FLTATR_CTL_WAITKILL
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
#endif
    NULL,
};

DEFINE_CLEANUP_FUNC(void, seccomp_release)

/* Resolves an action name; errno_ret < 0 means "not given". */
static int parse_action(const char *name, int64_t errno_ret, const char *what, uint32_t *ret, struct berth_error *err)
{
    if (errno_ret >= 0 && strcmp(name, "SCMP_ACT_ERRNO") != 0 && strcmp(name, "SCMP_ACT_TRACE") != 0)
        return berth_error_set(err, -EINVAL, "%s: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s",
                               what, name);
    if (errno_ret > 0xffff)
        return berth_error_set(err, -EINVAL, "%s: errnoRet %" PRId64 " is out of range", what, errno_ret);
    uint16_t e = errno_ret >= 0 ? (uint16_t) errno_ret : EPERM;
    if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0)
        *ret = SCMP_ACT_KILL_THREAD;
    else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0)
        *ret = SCMP_ACT_KILL_PROCESS;
    else if (strcmp(name, "SCMP_ACT_TRAP") == 0)
        *ret = SCMP_ACT_TRAP;
    else if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
        *ret = SCMP_ACT_ERRNO(e);
    else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
        *ret = SCMP_ACT_TRACE(e);
    else if (strcmp(name, "SCMP_ACT_ALLOW") == 0)
        *ret = SCMP_ACT_ALLOW;
    else if (strcmp(name, "SCMP_ACT_LOG") == 0)
        *ret = SCMP_ACT_LOG;
    else if (strcmp(name, "SCMP_ACT_NOTIFY") == 0)
        *ret = SCMP_ACT_NOTIFY;
    else
        return berth_error_set(err, -EINVAL, "%s: unknown seccomp action '%s'", what, name);
    return 0;
}

static int opt_errno_ret(json_t *o, const char *what, int64_t *ret, struct berth_error *err)
{
    *ret = -1;
    json_t *v = json_object_get(o, "errnoRet");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return berth_error_set(err, -EINVAL, "%s.errnoRet: must be a non-negative integer", what);
    *ret = json_integer_value(v);
    return 0;
}

static int add_arches(scmp_filter_ctx ctx, json_t *arr, struct berth_error *err)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return berth_error_set(err, -EINVAL, W ".architectures: must be an array");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *name = json_string_value(v);
        if (!name)
            return berth_error_set(err, -EINVAL, W ".architectures[%zu]: must be a string", i);
        bool known = false;
        for (size_t k = 0; seccomp_arch_names[k]; k++)
            known |= strcmp(seccomp_arch_names[k], name) == 0;
        if (!known)
            return berth_error_set(err, -EINVAL, W ".architectures: unknown architecture '%s'", name);
        char lower[32];
        size_t n = 0;
        for (const char *p = name + strlen("SCMP_ARCH_"); *p && n < sizeof(lower) - 1; p++)
            lower[n++] = (char) tolower((unsigned char) *p);
        lower[n] = '\0';
        uint32_t arch = seccomp_arch_resolve_name(lower);
        if (arch == 0)
            return berth_error_set(err, -EOPNOTSUPP, W ".architectures: '%s' is not supported by this libseccomp", name);
        int r = seccomp_arch_add(ctx, arch);
        if (r < 0 && r != -EEXIST)
            return berth_error_errno(err, r, W ".architectures: adding '%s'", name);
    }
    return 0;
}

static int set_flags(scmp_filter_ctx ctx, json_t *arr, struct berth_error *err)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return berth_error_set(err, -EINVAL, W ".flags: must be an array");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *name = json_string_value(v);
        enum scmp_filter_attr attr;
        if (!name)
            return berth_error_set(err, -EINVAL, W ".flags[%zu]: must be a string", i);
        if (strcmp(name, "SECCOMP_FILTER_FLAG_TSYNC") == 0)
            attr = SCMP_FLTATR_CTL_TSYNC;
        else if (strcmp(name, "SECCOMP_FILTER_FLAG_LOG") == 0)
            attr = SCMP_FLTATR_CTL_LOG;
        else if (strcmp(name, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
            attr = SCMP_FLTATR_CTL_SSB;
#ifdef SCMP_FLTATR_CTL_WAITKILL
        else if (strcmp(name, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") == 0)
            attr = SCMP_FLTATR_CTL_WAITKILL;
#else
        else if (strcmp(name, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") == 0)
            return berth_error_set(err, -EOPNOTSUPP,
                                   W ".flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs libseccomp >= 2.6");
#endif
        else
            return berth_error_set(err, -EINVAL, W ".flags: unknown flag '%s'", name);
        int r = seccomp_attr_set(ctx, attr, 1);
        if (r < 0)
            return berth_error_errno(err, r, W ".flags: %s is not supported by this kernel or libseccomp", name);
    }
    return 0;
}

static int parse_args(json_t *args, const char *what, struct scmp_arg_cmp *cmps, unsigned *ret_n, bool *ret_same_index,
                      struct berth_error *err)
{
    *ret_n = 0;
    *ret_same_index = false;
    if (!args || json_is_null(args))
        return 0;
    if (!json_is_array(args))
        return berth_error_set(err, -EINVAL, "%s.args: must be an array", what);
    if (json_array_size(args) > 6)
        return berth_error_set(err, -EINVAL, "%s.args: at most 6 conditions", what);
    unsigned seen = 0;
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a) {
        json_int_t index = -1;
        json_t *value = NULL, *value2 = NULL;
        const char *op = NULL;
        if (json_unpack(a, "{s:I, s:o, s?o, s:s}", "index", &index, "value", &value, "valueTwo", &value2, "op", &op) < 0)
            return berth_error_set(err, -EINVAL, "%s.args[%zu]: needs index, value and op", what, i);
        if (index < 0 || index > 5)
            return berth_error_set(err, -EINVAL, "%s.args[%zu].index: %" PRId64 " is not in 0..5", what, i,
                                   (int64_t) index);
        if (!json_is_integer(value) || (value2 && !json_is_null(value2) && !json_is_integer(value2)))
            return berth_error_set(err, -EINVAL, "%s.args[%zu]: value and valueTwo must be integers", what, i);
        size_t k = 0;
        while (seccomp_operator_names[k] && strcmp(seccomp_operator_names[k], op) != 0)
            k++;
        if (!seccomp_operator_names[k])
            return berth_error_set(err, -EINVAL, "%s.args[%zu].op: unknown operator '%s'", what, i, op);
        if (seen & (1u << index))
            *ret_same_index = true;
        seen |= 1u << index;
        /* JSON integers are signed 64-bit; uint64 values above INT64_MAX arrive wrapped, which is
         * the same bit pattern libseccomp compares. */
        cmps[*ret_n] = (struct scmp_arg_cmp) {
            .arg = (unsigned) index,
            .op = operator_values[k],
            .datum_a = (scmp_datum_t) json_integer_value(value),
            .datum_b = value2 ? (scmp_datum_t) json_integer_value(value2) : 0,
        };
        (*ret_n)++;
    }
    return 0;
}

static int add_syscall_rule(scmp_filter_ctx ctx, uint32_t default_action, json_t *rule, size_t idx,
                            struct berth_error *err)
{
    char what[64];
    snprintf(what, sizeof(what), W ".syscalls[%zu]", idx);
    if (!json_is_object(rule))
        return berth_error_set(err, -EINVAL, "%s: must be an object", what);
    json_t *names = json_object_get(rule, "names");
    const char *action_name = json_string_value(json_object_get(rule, "action"));
    if (!json_is_array(names))
        return berth_error_set(err, -EINVAL, "%s.names: required array of syscall names", what);
    if (!action_name)
        return berth_error_set(err, -EINVAL, "%s.action: required string", what);
    int64_t errno_ret;
    uint32_t action;
    int r;
    if ((r = opt_errno_ret(rule, what, &errno_ret, err)) < 0 ||
        (r = parse_action(action_name, errno_ret, what, &action, err)) < 0)
        return r;
    struct scmp_arg_cmp cmps[6];
    unsigned n_cmps = 0;
    bool same_index = false;
    if ((r = parse_args(json_object_get(rule, "args"), what, cmps, &n_cmps, &same_index, err)) < 0)
        return r;
    size_t i;
    json_t *nv;
    json_array_foreach(names, i, nv) {
        const char *name = json_string_value(nv);
        if (!name)
            return berth_error_set(err, -EINVAL, "%s.names[%zu]: must be a string", what, i);
        /* libseccomp refuses a rule that repeats the default action; it would change nothing. */
        if (action == default_action)
            continue;
        /* The init hands the notify fd to the runtime with sendmsg once the filter is loaded: a
         * notified sendmsg would wait for an agent that cannot have the fd yet. */
        if (action == SCMP_ACT_NOTIFY && !strcmp(name, "sendmsg"))
            return berth_error_set(err, -EINVAL, "%s: SCMP_ACT_NOTIFY on sendmsg is not supported (berth-oci "
                                   "passes the notify fd to the listener with it)", what);
        int sysno = seccomp_syscall_resolve_name(name);
        if (sysno == __NR_SCMP_ERROR)
            continue; /* unknown to libseccomp: skipped, as runc does, so profiles stay portable */
        if (same_index) {
            /* libseccomp cannot AND two conditions on one argument; as runc, each condition
             * becomes a rule of its own. */
            for (unsigned c = 0; c < n_cmps; c++) {
                r = seccomp_rule_add_array(ctx, action, sysno, 1, &cmps[c]);
                if (r < 0 && sysno >= 0)
                    return berth_error_errno(err, r, "%s: adding a rule for '%s'", what, name);
            }
        } else {
            r = seccomp_rule_add_array(ctx, action, sysno, n_cmps, cmps);
            if (r < 0 && sysno >= 0)
                return berth_error_errno(err, r, "%s: adding a rule for '%s'", what, name);
        }
    }
    return 0;
}

bool seccomp_uses_notify(json_t *seccomp)
{
    json_t *syscalls = json_object_get(seccomp, "syscalls"), *rule;
    size_t i;
    if (!json_is_array(syscalls))
        return false;
    json_array_foreach(syscalls, i, rule) {
        const char *a = json_string_value(json_object_get(rule, "action"));
        if (a && !strcmp(a, "SCMP_ACT_NOTIFY"))
            return true;
    }
    return false;
}

/* listenerPath: where the notify fd goes (runtime-spec "Seccomp", container process state). */
static int check_listener(json_t *seccomp, struct berth_error *err)
{
    json_t *path = json_object_get(seccomp, "listenerPath"), *meta = json_object_get(seccomp, "listenerMetadata");
    if (path && !json_is_null(path) && !json_is_string(path))
        return berth_error_set(err, -EINVAL, W ".listenerPath: must be a string");
    if (meta && !json_is_null(meta) && !json_is_string(meta))
        return berth_error_set(err, -EINVAL, W ".listenerMetadata: must be a string");
    const char *p = json_string_value(path);
    if (p && !*p)
        p = NULL;
    if (p && strlen(p) >= sizeof(((struct sockaddr_un *) 0)->sun_path))
        return berth_error_set(err, -ENAMETOOLONG, W ".listenerPath: too long for a UNIX socket: %s", p);
    if (!p && json_string_value(meta) && *json_string_value(meta))
        return berth_error_set(err, -EINVAL, W ".listenerMetadata: set without listenerPath");
    if (!p && seccomp_uses_notify(seccomp))
        return berth_error_set(err, -EINVAL, W ": SCMP_ACT_NOTIFY needs listenerPath (the socket of the agent "
                               "that answers the notifications)");
    return 0;
}

int seccomp_build(json_t *seccomp, scmp_filter_ctx *ret, struct berth_error *err)
{
    if (!json_is_object(seccomp))
        return berth_error_set(err, -EINVAL, W ": must be an object");
    const char *def = json_string_value(json_object_get(seccomp, "defaultAction"));
    if (!def)
        return berth_error_set(err, -EINVAL, W ".defaultAction: required string");
    json_t *dret = json_object_get(seccomp, "defaultErrnoRet");
    int64_t default_errno = -1;
    if (dret && !json_is_null(dret)) {
        if (!json_is_integer(dret) || json_integer_value(dret) < 0)
            return berth_error_set(err, -EINVAL, W ".defaultErrnoRet: must be a non-negative integer");
        default_errno = json_integer_value(dret);
    }
    uint32_t default_action;
    int r = parse_action(def, default_errno, W ".defaultAction", &default_action, err);
    if (r < 0)
        return r;
    if (default_action == SCMP_ACT_NOTIFY)
        return berth_error_set(err, -EINVAL, W ".defaultAction: SCMP_ACT_NOTIFY is not supported as the default "
                               "(the init's own calls after loading the filter would wait for the agent)");
    if ((r = check_listener(seccomp, err)) < 0)
        return r;

    _cleanup_(seccomp_releasep) void *ctx = seccomp_init(default_action);
    if (!ctx)
        return berth_error_set(err, -EINVAL, W ": libseccomp refused the default action %s", def);
    /* no_new_privs is the spec's process.noNewPrivileges to decide, not libseccomp's. */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if ((r = add_arches(ctx, json_object_get(seccomp, "architectures"), err)) < 0 ||
        (r = set_flags(ctx, json_object_get(seccomp, "flags"), err)) < 0)
        return r;
    json_t *syscalls = json_object_get(seccomp, "syscalls");
    if (syscalls && !json_is_null(syscalls)) {
        if (!json_is_array(syscalls))
            return berth_error_set(err, -EINVAL, W ".syscalls: must be an array");
        if (json_array_size(syscalls) > MAX_SYSCALL_RULES)
            return berth_error_set(err, -E2BIG, W ".syscalls: more than %d rules", MAX_SYSCALL_RULES);
        size_t i;
        json_t *rule;
        json_array_foreach(syscalls, i, rule) {
            if ((r = add_syscall_rule(ctx, default_action, rule, i, err)) < 0)
                return r;
        }
    }
    *ret = TAKE_PTR(ctx);
    return 0;
}

int seccomp_check_spec(json_t *seccomp, struct berth_error *err)
{
    if (!seccomp || json_is_null(seccomp))
        return 0;
    scmp_filter_ctx ctx = NULL;
    int r = seccomp_build(seccomp, &ctx, err);
    if (r < 0)
        return r;
    seccomp_release(ctx);
    return 0;
}

int seccomp_apply(json_t *seccomp, int *ret_notify_fd, struct berth_error *err)
{
    if (ret_notify_fd)
        *ret_notify_fd = -1;
    if (!seccomp || json_is_null(seccomp))
        return 0;
    _cleanup_(seccomp_releasep) void *ctx = NULL;
    int r = seccomp_build(seccomp, &ctx, err);
    if (r < 0)
        return r;
    r = seccomp_load(ctx);
    if (r < 0)
        return berth_error_errno(err, r, W ": loading the filter (without no_new_privileges this needs CAP_SYS_ADMIN)");
    if (seccomp_uses_notify(seccomp)) {
        /* libseccomp asked the kernel for a listener (SECCOMP_FILTER_FLAG_NEW_LISTENER, close-on-exec). */
        int fd = seccomp_notify_fd(ctx);
        if (fd < 0)
            return berth_error_errno(err, fd < 0 ? fd : -EIO, W ": no notify descriptor after loading the filter");
        if (!ret_notify_fd) {
            close(fd);
            return berth_error_set(err, -EINVAL, W ": SCMP_ACT_NOTIFY is not supported here");
        }
        *ret_notify_fd = fd;
    }
    return 0;
}
