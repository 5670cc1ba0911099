/* cgroup manager against real cgroups: v1 on this host's /sys/fs/cgroup (when its controllers are
 * on v1) and v2 on a private cgroup2 mount in a mount namespace of this test process. Every
 * cgroup is named after the test's pid and removed at the end. Needs root (skipped otherwise). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "runtime/cgroup-internal.h"

static json_t *parse(const char *s)
{
    json_t *j = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(json_load_buffer(s, strlen(s), "test", &j, &err), 0);
    return j;
}

/* A child that waits for one byte on a pipe, then tries three devices and exits with bit 0 =
 * /dev/null (allowed by the spec), bit 1 = /dev/kmsg (c 1:11, denied), bit 2 = /dev/zero (in the
 * default allowed set the runtime appends) opened. */
static pid_t spawn_waiter(int *ret_go)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char c;
        close(p[1]);
        if (read(p[0], &c, 1) != 1)
            _exit(100);
        int code = 0;
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0)
            code |= 1;
        fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
        if (fd >= 0)
            code |= 2;
        fd = open("/dev/zero", O_RDONLY);
        if (fd >= 0)
            code |= 4;
        _exit(code);
    }
    close(p[0]);
    *ret_go = p[1];
    return pid;
}

static int release_and_wait(pid_t pid, int go)
{
    assert_int_equal(write(go, "x", 1), 1);
    close(go);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static pid_t spawn_sleeper(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

static void read_expect(const char *dir, const char *file, const char *want)
{
    _cleanup_free_ char *s = NULL;
    assert_int_equal(cgroup_read(dir, file, &s), 0);
    if (!strstr(s, want))
        fail_msg("%s/%s is '%s', expected '%s'", dir, file, s, want);
}

static void test_v1_host(void **state)
{
    struct statfs sfs;
    if (geteuid() != 0 || statfs("/sys/fs/cgroup/memory", &sfs) < 0 || sfs.f_type != CGROUP_SUPER_MAGIC)
        skip();
    char path[64];
    snprintf(path, sizeof(path), "/berth-test-%d/c1", (int) getpid());
    struct berth_error err = { 0 };
    struct cgroup_manager *m = NULL;
    assert_int_equal(cgroup_manager_new(path, "c1", false, NULL, &m, &err), 0);
    assert_int_equal(m->version, 1);

    int go;
    pid_t w = spawn_waiter(&go);
    if (cgroup_enter(m, w, &err) < 0)
        fail_msg("enter: %s", err.msg);
    _cleanup_json_ json_t *res = parse(
        "{\"memory\":{\"limit\":67108864,\"swap\":134217728,\"reservation\":33554432},"
        "\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,\"cpus\":\"0\"},"
        "\"pids\":{\"limit\":20},"
        "\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rwm\"}]}");
    if (cgroup_apply(m, res, &err) < 0)
        fail_msg("apply: %s", err.msg);
    const char *mem = cgroup_v1_dir_for(m, "memory");
    assert_non_null(mem);
    read_expect(mem, "memory.limit_in_bytes", "67108864");
    read_expect(mem, "memory.memsw.limit_in_bytes", "134217728");
    read_expect(cgroup_v1_dir_for(m, "cpu"), "cpu.cfs_quota_us", "50000");
    read_expect(cgroup_v1_dir_for(m, "cpu"), "cpu.shares", "512");
    read_expect(cgroup_v1_dir_for(m, "cpuset"), "cpuset.cpus", "0");
    read_expect(cgroup_v1_dir_for(m, "pids"), "pids.max", "20");
    read_expect(cgroup_v1_dir_for(m, "devices"), "devices.list", "c 1:3 rwm");

    pid_t *pids = NULL;
    size_t n = 0;
    assert_int_equal(cgroup_pids(m, &pids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], w);
    free(pids);

    struct cgroup_stats st;
    assert_int_equal(cgroup_stats(m, &st, &err), 0);
    assert_int_equal(st.memory_limit, 67108864);
    assert_int_equal(st.pids_limit, 20);
    assert_int_equal(st.pids_current, 1);

    /* The devices controller lets /dev/null and /dev/zero through and stops /dev/kmsg. */
    assert_int_equal(release_and_wait(w, go), 5);

    /* Update with a lower limit, then freeze and kill through a manager restored from JSON,
     * as a later `berth-oci kill/delete` would. */
    pid_t s = spawn_sleeper();
    assert_int_equal(cgroup_enter(m, s, &err), 0);
    _cleanup_json_ json_t *upd = parse("{\"memory\":{\"limit\":50331648,\"swap\":50331648}}");
    if (cgroup_apply(m, upd, &err) < 0)
        fail_msg("update: %s", err.msg);
    read_expect(mem, "memory.limit_in_bytes", "50331648");
    /* Raising the limit alone above memory+swap: the error says what to do. */
    _cleanup_json_ json_t *over = parse("{\"memory\":{\"limit\":104857600}}");
    assert_int_equal(cgroup_apply(m, over, &err), -EINVAL);
    if (!strstr(err.msg, "set memory.swap as well"))
        fail_msg("unexpected error: %s", err.msg);
    berth_error_clear(&err);
    _cleanup_json_ json_t *saved = cgroup_manager_to_json(m);
    cgroup_manager_free(m);
    m = NULL;
    assert_int_equal(cgroup_manager_from_json(saved, &m, &err), 0);
    assert_int_equal(cgroup_freeze(m, true, &err), 0);
    assert_int_equal(cgroup_is_frozen(m), 1);
    assert_int_equal(cgroup_freeze(m, false, &err), 0);
    assert_int_equal(cgroup_is_frozen(m), 0);
    assert_int_equal(cgroup_kill_all(m, SIGTERM, &err), 0);
    int status = 0;
    assert_int_equal(waitpid(s, &status, 0), s);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);

    /* delete --force of a paused container: destroy kills and thaws. */
    s = spawn_sleeper();
    assert_int_equal(cgroup_enter(m, s, &err), 0);
    assert_int_equal(cgroup_freeze(m, true, &err), 0);
    if (cgroup_destroy(m, &err) < 0)
        fail_msg("destroy: %s", err.msg);
    assert_int_equal(waitpid(s, &status, 0), s);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char top[96];
    snprintf(top, sizeof(top), "/sys/fs/cgroup/memory/berth-test-%d", (int) getpid());
    assert_false(fs_exists(top));
    snprintf(top, sizeof(top), "/sys/fs/cgroup/pids/berth-test-%d", (int) getpid());
    assert_false(fs_exists(top));
    cgroup_manager_free(m);
}

static void test_v1_bad_input_is_clear(void **state)
{
    struct statfs sfs;
    if (geteuid() != 0 || statfs("/sys/fs/cgroup/memory", &sfs) < 0 || sfs.f_type != CGROUP_SUPER_MAGIC)
        skip();
    struct berth_error err = { 0 };
    struct cgroup_manager *m = NULL;
    assert_int_equal(cgroup_manager_new("machine.slice:libpod:x", "x", false, NULL, &m, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "--systemd-cgroup"));
    berth_error_clear(&err);
    if (!fs_exists("/run/systemd/system")) {
        assert_int_equal(cgroup_manager_new("machine.slice:libpod:x", "x", true, NULL, &m, &err), -EOPNOTSUPP);
        assert_non_null(strstr(err.msg, "not supported"));
        berth_error_clear(&err);
    }
    char path[64];
    snprintf(path, sizeof(path), "/berth-test-%d/bad", (int) getpid());
    assert_int_equal(cgroup_manager_new(path, "bad", false, NULL, &m, &err), 0);
    pid_t s = spawn_sleeper();
    assert_int_equal(cgroup_enter(m, s, &err), 0);
    _cleanup_json_ json_t *uni = parse("{\"unified\":{\"memory.high\":\"1M\"}}");
    assert_int_equal(cgroup_apply(m, uni, &err), -EOPNOTSUPP);
    assert_non_null(strstr(err.msg, "cgroup v2"));
    berth_error_clear(&err);
    assert_int_equal(cgroup_destroy(m, &err), 0);
    int status;
    assert_int_equal(waitpid(s, &status, 0), s);
    cgroup_manager_free(m);
}

static void test_v2_private_mount(void **state)
{
    if (geteuid() != 0)
        skip();
    /* This test process gets its own mount namespace: the cgroup2 mount disappears with it. */
    assert_int_equal(unshare(CLONE_NEWNS), 0);
    assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    char tmp[] = "/tmp/berth-cg2-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    if (mount("cgroup2", tmp, "cgroup2", 0, NULL) < 0) {
        rmdir(tmp);
        skip();
    }
    char path[64];
    snprintf(path, sizeof(path), "/berth-test-%d/c2", (int) getpid());
    struct berth_error err = { 0 };
    struct cgroup_manager *m = NULL;
    assert_int_equal(cgroup_manager_new(path, "c2", false, tmp, &m, &err), 0);
    assert_int_equal(m->version, 2);

    int go;
    pid_t w = spawn_waiter(&go);
    if (cgroup_enter(m, w, &err) < 0)
        fail_msg("enter: %s", err.msg);
    /* Devices through the generated eBPF program, and a core file through the unified map. */
    _cleanup_json_ json_t *res = parse(
        "{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rw\"}],"
        "\"unified\":{\"cgroup.max.descendants\":\"5\"}}");
    if (cgroup_apply(m, res, &err) < 0)
        fail_msg("apply: %s", err.msg);
    read_expect(m->dir, "cgroup.max.descendants", "5");
    /* An update replaces the device program instead of stacking a second one. */
    if (cgroup_apply(m, res, &err) < 0)
        fail_msg("re-apply: %s", err.msg);
    assert_int_equal(release_and_wait(w, go), 5);

    _cleanup_free_ char *avail = NULL;
    assert_int_equal(cgroup_read(tmp, "cgroup.controllers", &avail), 0);
    if (strstr(avail, "hugetlb")) {
        _cleanup_json_ json_t *hp = parse("{\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":0}]}");
        if (cgroup_apply(m, hp, &err) < 0)
            fail_msg("hugetlb: %s", err.msg);
        read_expect(m->dir, "hugetlb.2MB.max", "0");
    }
    if (!strstr(avail, "memory")) {
        /* The memory controller is bound to v1 on a hybrid host: a precise error, not silence. */
        _cleanup_json_ json_t *memres = parse("{\"memory\":{\"limit\":1048576}}");
        assert_int_equal(cgroup_apply(m, memres, &err), -EOPNOTSUPP);
        assert_non_null(strstr(err.msg, "memory.max"));
        berth_error_clear(&err);
    }

    pid_t s = spawn_sleeper();
    assert_int_equal(cgroup_enter(m, s, &err), 0);
    pid_t *pids = NULL;
    size_t n = 0;
    assert_int_equal(cgroup_pids(m, &pids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], s);
    free(pids);
    assert_int_equal(cgroup_freeze(m, true, &err), 0);
    assert_int_equal(cgroup_is_frozen(m), 1);
    assert_int_equal(cgroup_freeze(m, false, &err), 0);
    assert_int_equal(cgroup_is_frozen(m), 0);
    _cleanup_json_ json_t *saved = cgroup_manager_to_json(m);
    cgroup_manager_free(m);
    m = NULL;
    assert_int_equal(cgroup_manager_from_json(saved, &m, &err), 0);
    if (cgroup_destroy(m, &err) < 0)
        fail_msg("destroy: %s", err.msg);
    int status = 0;
    assert_int_equal(waitpid(s, &status, 0), s);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char top[128];
    snprintf(top, sizeof(top), "%s/berth-test-%d", tmp, (int) getpid());
    assert_false(fs_exists(top));
    cgroup_manager_free(m);
    assert_int_equal(umount2(tmp, MNT_DETACH), 0);
    assert_int_equal(rmdir(tmp), 0);
}

/* A failed assertion skips a test's own destroy: remove whatever is left under this test's
 * names (processes killed first), in every hierarchy, including the unified one. */
static int cleanup_leftovers(void **state)
{
    char name[64];
    snprintf(name, sizeof(name), "berth-test-%d", (int) getpid());
    _cleanup_closedir_ DIR *d = opendir("/sys/fs/cgroup");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char top[PATH_MAX];
        snprintf(top, sizeof(top), "/sys/fs/cgroup/%s/%s", de->d_name, name);
        if (!fs_exists(top))
            continue;
        pid_t *pids = NULL;
        size_t n = 0;
        cgroup_collect_pids(top, &pids, &n);
        for (size_t i = 0; i < n; i++)
            kill(pids[i], SIGKILL);
        free(pids);
        cgroup_rmdir(top);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_host),
        cmocka_unit_test(test_v1_bad_input_is_clear),
        cmocka_unit_test(test_v2_private_mount),
    };
    return cmocka_run_group_tests(tests, NULL, cleanup_leftovers);
}
