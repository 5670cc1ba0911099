/* process.capabilities: sets applied in a forked child, read back from /proc/self/status. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/json.h"
#include "runtime/security.h"

static json_t *parse(const char *s)
{
    json_t *j = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(json_load_buffer(s, strlen(s), "test", &j, &err), 0);
    return j;
}

static uint64_t status_mask(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t v = UINT64_MAX;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtoull(line + strlen(key), NULL, 16);
    if (f)
        fclose(f);
    return v;
}

#define BIT(c) (UINT64_C(1) << (c))

/* Child: optionally switch to uid/gid 1000, apply, compare; exit 0 when every set matches. */
static int run_child(const char *spec, bool setuid_first, uint64_t bnd, uint64_t eff, uint64_t prm, uint64_t inh,
                     uint64_t amb)
{
    json_t *j = spec ? parse(spec) : NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct berth_error err = { 0 };
        if (setuid_first) {
            if (caps_keep_for_setuid(&err) < 0 || setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0)
                _exit(90);
        }
        if (caps_apply(j, &err) < 0) {
            fprintf(stderr, "caps_apply: %s\n", err.msg);
            _exit(91);
        }
        int bad = 0;
        if (status_mask("CapBnd:") != bnd)
            bad |= 1;
        if (status_mask("CapEff:") != eff)
            bad |= 2;
        if (status_mask("CapPrm:") != prm)
            bad |= 4;
        if (status_mask("CapInh:") != inh)
            bad |= 8;
        if (status_mask("CapAmb:") != amb)
            bad |= 16;
        _exit(bad);
    }
    json_decref(j);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_names(void **state)
{
    assert_int_equal(caps_from_name("CAP_NET_ADMIN"), 12);
    assert_int_equal(caps_from_name("cap_chown"), 0);
    assert_int_equal(caps_from_name("CAP_CHECKPOINT_RESTORE"), 40);
    assert_int_equal(caps_from_name("CAP_NOPE"), -EINVAL);
    assert_string_equal(caps_to_name(21), "CAP_SYS_ADMIN");
    assert_null(caps_to_name(99));
    json_t *j = parse("{\"bounding\":[\"CAP_CHOWN\"],\"ambient\":[\"CAP_FLY\"]}");
    struct berth_error err = { 0 };
    assert_int_equal(caps_check_spec(j, &err), -EINVAL);
    assert_string_equal(err.msg, "process.capabilities.ambient: unknown capability 'CAP_FLY'");
    json_decref(j);
    j = parse("{\"effective\":\"CAP_CHOWN\"}");
    berth_error_clear(&err);
    assert_int_equal(caps_check_spec(j, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "process.capabilities.effective"));
    json_decref(j);
}

static void test_apply_as_root(void **state)
{
    if (geteuid() != 0)
        skip();
    assert_int_equal(run_child("{\"bounding\":[\"CAP_CHOWN\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
                               "\"effective\":[\"CAP_CHOWN\"],\"permitted\":[\"CAP_CHOWN\",\"CAP_KILL\"],"
                               "\"inheritable\":[\"CAP_KILL\"],\"ambient\":[\"CAP_KILL\"]}",
                               false, BIT(0) | BIT(5) | BIT(10), BIT(0), BIT(0) | BIT(5), BIT(5), BIT(5)),
                     0);
    /* `runc spec` writes ambient without inheritable: such ambient capabilities are skipped. */
    assert_int_equal(run_child("{\"bounding\":[\"CAP_KILL\"],\"effective\":[\"CAP_KILL\"],\"permitted\":[\"CAP_KILL\"],"
                               "\"ambient\":[\"CAP_KILL\"]}",
                               false, BIT(5), BIT(5), BIT(5), 0, 0),
                     0);
    /* NULL drops everything. */
    assert_int_equal(run_child(NULL, false, 0, 0, 0, 0, 0), 0);
}

static void test_apply_after_setuid(void **state)
{
    if (geteuid() != 0)
        skip();
    /* The permitted set survives the uid change (keepcaps), so a non-root user can be given
     * CAP_NET_BIND_SERVICE, including as ambient so that it survives execve. */
    uint64_t nbs = BIT(10);
    assert_int_equal(run_child("{\"bounding\":[\"CAP_NET_BIND_SERVICE\"],\"effective\":[\"CAP_NET_BIND_SERVICE\"],"
                               "\"permitted\":[\"CAP_NET_BIND_SERVICE\"],\"inheritable\":[\"CAP_NET_BIND_SERVICE\"],"
                               "\"ambient\":[\"CAP_NET_BIND_SERVICE\"]}",
                               true, nbs, nbs, nbs, nbs, nbs),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_apply_as_root),
        cmocka_unit_test(test_apply_after_setuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
