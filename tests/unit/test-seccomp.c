/* linux.seccomp: filters are loaded in a forked child, which then makes the syscall and reports
 * what happened through its exit status. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/json.h"
#include "oci/features.h"
#include "runtime/seccomp-internal.h"
#include "runtime/security.h"

static json_t *parse(const char *s)
{
    json_t *j = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(json_load_buffer(s, strlen(s), "test", &j, &err), 0);
    return j;
}

/* Runs probe() in a child after loading spec; returns the exit code, or 128+signal. */
static int run_filtered(const char *spec, int (*probe)(void))
{
    json_t *j = parse(spec);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct berth_error err = { 0 };
        /* cmocka catches SIGSYS for its own reports; the probe wants the default (death). */
        signal(SIGSYS, SIG_DFL);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            _exit(200);
        if (seccomp_apply(j, NULL, &err) < 0) {
            fprintf(stderr, "seccomp_apply: %s\n", err.msg);
            _exit(201);
        }
        _exit(probe());
    }
    json_decref(j);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int probe_getcwd(void)
{
    char buf[256];
    if (getcwd(buf, sizeof(buf)))
        return 0;
    return errno;
}

static int probe_uname(void)
{
    /* The raw syscall: sanitizer interceptors of uname() may make other, filtered, calls. */
    struct utsname u;
    return syscall(SYS_uname, &u) == 0 ? 0 : errno;
}

/* dup(100) and dup(101) denied by arg conditions, dup(0) allowed: 1 = as expected. */
static int probe_dup_args(void)
{
    int ok = 1;
    errno = 0;
    if (dup(100) >= 0 || errno != 77)
        ok = 0;
    errno = 0;
    if (dup(101) >= 0 || errno != 77)
        ok = 0;
    if (dup(0) < 0)
        ok = 0;
    return ok;
}

static int probe_dup2_masked(void)
{
    int ok = 1;
    errno = 0;
    if (dup2(0, 0x1234) >= 0 || errno != 55)
        ok = 0;
    if (dup2(0, 50) < 0)
        ok = 0;
    return ok;
}

static void test_errno_rule(void **state)
{
    assert_int_equal(run_filtered("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"not_a_syscall\",\"getcwd\"],"
                                  "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":42}]}",
                                  probe_getcwd),
                     42);
    /* Without errnoRet, EPERM. */
    assert_int_equal(run_filtered("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getcwd\"],"
                                  "\"action\":\"SCMP_ACT_ERRNO\"}]}",
                                  probe_getcwd),
                     EPERM);
    /* The same spec with no rule leaves getcwd alone. */
    assert_int_equal(run_filtered("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\","
                                  "\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"],\"flags\":[\"SECCOMP_FILTER_FLAG_TSYNC\","
                                  "\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\",\"SECCOMP_FILTER_FLAG_LOG\"]}",
                                  probe_getcwd),
                     0);
}

static void test_default_errno(void **state)
{
    /* Everything fails with defaultErrnoRet except what the child (and, in the ASan build, the
     * sanitizer's allocator) needs to finish. */
    assert_int_equal(run_filtered("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,\"syscalls\":["
                                  "{\"names\":[\"exit_group\",\"exit\",\"write\",\"mmap\",\"munmap\",\"madvise\","
                                  "\"mprotect\",\"rt_sigprocmask\",\"sigaltstack\",\"getpid\",\"gettid\"],"
                                  "\"action\":\"SCMP_ACT_ALLOW\"}]}",
                                  probe_uname),
                     38);
}

static void test_kill_and_trap(void **state)
{
    assert_int_equal(run_filtered("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"uname\"],"
                                  "\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}",
                                  probe_uname),
                     128 + SIGSYS);
    assert_int_equal(run_filtered("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"uname\"],"
                                  "\"action\":\"SCMP_ACT_TRAP\"}]}",
                                  probe_uname),
                     128 + SIGSYS);
    assert_int_equal(run_filtered("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"uname\"],"
                                  "\"action\":\"SCMP_ACT_LOG\"}]}",
                                  probe_uname),
                     0);
}

static void test_arg_conditions(void **state)
{
    /* Two conditions on one argument: each becomes its own rule (OR), as runc does. */
    assert_int_equal(run_filtered("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"dup\"],"
                                  "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":77,\"args\":["
                                  "{\"index\":0,\"value\":100,\"op\":\"SCMP_CMP_EQ\"},"
                                  "{\"index\":0,\"value\":101,\"op\":\"SCMP_CMP_EQ\"}]}]}",
                                  probe_dup_args),
                     1);
    assert_int_equal(run_filtered("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"dup2\",\"dup3\"],"
                                  "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":55,\"args\":["
                                  "{\"index\":1,\"value\":65280,\"valueTwo\":4608,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]}",
                                  probe_dup2_masked),
                     1);
}

static void expect_error(const char *spec, int code, const char *needle)
{
    json_t *j = parse(spec);
    struct berth_error err = { 0 };
    int r = seccomp_check_spec(j, &err);
    json_decref(j);
    assert_int_equal(r, code);
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

static void test_bad_specs(void **state)
{
    expect_error("{}", -EINVAL, "defaultAction");
    expect_error("{\"defaultAction\":\"SCMP_ACT_FOO\"}", -EINVAL, "unknown seccomp action 'SCMP_ACT_FOO'");
    /* SCMP_ACT_NOTIFY needs an agent to answer: listenerPath; metadata only goes with a path. */
    expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"uname\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}",
                 -EINVAL, "SCMP_ACT_NOTIFY needs listenerPath");
    expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerMetadata\":\"x\"}", -EINVAL,
                 "listenerMetadata: set without listenerPath");
    expect_error("{\"defaultAction\":\"SCMP_ACT_NOTIFY\",\"listenerPath\":\"/run/x.sock\"}", -EINVAL,
                 "not supported as the default");
    expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/run/x.sock\",\"syscalls\":"
                 "[{\"names\":[\"sendmsg\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}", -EINVAL, "sendmsg");
    expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_Z80\"]}", -EINVAL,
                 "unknown architecture 'SCMP_ARCH_Z80'");
    expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_NOPE\"]}", -EINVAL,
                 "unknown flag 'SECCOMP_FILTER_FLAG_NOPE'");
    expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"uname\"],\"action\":\"SCMP_ACT_ALLOW\","
                 "\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_LIKE\"}]}]}",
                 -EINVAL, "unknown operator 'SCMP_CMP_LIKE'");
    expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"uname\"],\"action\":\"SCMP_ACT_ALLOW\","
                 "\"args\":[{\"index\":7,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
                 -EINVAL, "syscalls[0].args[0].index");
    expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"uname\"],\"action\":\"SCMP_ACT_ALLOW\","
                 "\"errnoRet\":1}]}",
                 -EINVAL, "errnoRet is only valid");
    expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"action\":\"SCMP_ACT_ALLOW\"}]}", -EINVAL,
                 "syscalls[0].names");
    /* Unknown syscall names are fine (skipped). */
    json_t *j = parse("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"frobnicate\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
    struct berth_error err = { 0 };
    assert_int_equal(seccomp_check_spec(j, &err), 0);
    json_decref(j);
    assert_int_equal(seccomp_check_spec(NULL, &err), 0);
}

static void test_features_document(void **state)
{
    json_t *f = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(oci_features_json(&f, &err), 0);
    assert_string_equal(json_string_value(json_object_get(f, "ociVersionMin")), "1.0.0");
    json_t *linux_ = json_object_get(f, "linux");
    json_t *sc = json_object_get(linux_, "seccomp");
    assert_true(json_is_true(json_object_get(sc, "enabled")));
    assert_true(json_array_size(json_object_get(sc, "actions")) >= 8);
    assert_true(json_array_size(json_object_get(sc, "operators")) == 7);
    assert_true(json_array_size(json_object_get(linux_, "capabilities")) == 41);
    assert_true(json_array_size(json_object_get(linux_, "namespaces")) == 8);
    assert_true(json_is_true(json_object_get(json_object_get(linux_, "cgroup"), "v2")));
    assert_true(json_is_false(json_object_get(json_object_get(linux_, "selinux"), "enabled")));
    assert_non_null(json_object_get(f, "mountOptions"));
    json_decref(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errno_rule),
        cmocka_unit_test(test_default_errno),
        cmocka_unit_test(test_kill_and_trap),
        cmocka_unit_test(test_arg_conditions),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_features_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
