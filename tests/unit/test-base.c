#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pty.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/tty.h"

static char *make_tmpdir(void)
{
    char *d = strdup("/tmp/berth-test-base-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void test_error_keeps_innermost_and_prefixes(void **state)
{
    struct berth_error err = { 0 };
    assert_int_equal(berth_error_set(&err, -EINVAL, "process.args is empty"), -EINVAL);
    berth_error_set(&err, -EIO, "outer message is ignored");
    berth_error_prefix(&err, -EIO, "config.json: ");
    assert_int_equal(err.code, -EINVAL);
    assert_string_equal(berth_error_message(&err), "config.json: process.args is empty");
    berth_error_clear(&err);
    assert_int_equal(berth_error_errno(&err, -ENOENT, "%s", "/nope"), -ENOENT);
    assert_string_equal(err.msg, "/nope: No such file or directory");
    assert_int_equal(berth_error_set(NULL, -EPERM, "no sink"), -EPERM);
}

static void test_atomic_write_and_capped_read(void **state)
{
    _cleanup_free_ char *dir = make_tmpdir();
    _cleanup_free_ char *path = fs_path_join(dir, "f.json");
    struct berth_error err = { 0 };
    assert_int_equal(fs_write_atomic(path, "{\"a\": 1}", 8, 0600, &err), 0);
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    assert_int_equal(fs_read_file(path, 100, &data, &len, &err), 0);
    assert_int_equal(len, 8);
    assert_string_equal(data, "{\"a\": 1}");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    char *big = NULL;
    assert_int_equal(fs_read_file(path, 4, &big, NULL, &err), -EFBIG);
    assert_null(big);
    assert_non_null(strstr(err.msg, "larger than the limit"));
    assert_int_equal(fs_rm_rf(dir), 0);
    assert_false(fs_exists(dir));
}

static void test_write_replace_replaces_without_leftovers(void **state)
{
    _cleanup_free_ char *dir = make_tmpdir();
    _cleanup_free_ char *path = fs_path_join(dir, "state.json");
    struct berth_error err = { 0 };
    assert_int_equal(fs_write_replace(path, "old", 3, 0600, &err), 0);
    assert_int_equal(fs_write_replace(path, "newer", 5, 0644, &err), 0);
    _cleanup_free_ char *data = NULL;
    assert_int_equal(fs_read_file(path, 100, &data, NULL, &err), 0);
    assert_string_equal(data, "newer");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* Only the file itself: no temporary left beside it. */
    _cleanup_closedir_ DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    assert_int_equal(n, 1);
    /* A directory that does not exist is an error naming the file. */
    _cleanup_free_ char *bad = fs_path_join(dir, "missing/state.json");
    assert_true(fs_write_replace(bad, "x", 1, 0600, &err) < 0);
    assert_non_null(strstr(err.msg, "missing/state.json"));
    assert_int_equal(fs_rm_rf(dir), 0);
}

static void test_mkdir_p_and_rm_rf(void **state)
{
    _cleanup_free_ char *dir = make_tmpdir();
    _cleanup_free_ char *deep = fs_path_join(dir, "a/b/c");
    assert_int_equal(fs_mkdir_p(deep, 0755), 0);
    assert_int_equal(fs_mkdir_p(deep, 0755), 0);
    _cleanup_free_ char *file = fs_path_join(dir, "a/file");
    assert_int_equal(fs_write_atomic(file, "x", 1, 0644, NULL), 0);
    assert_int_equal(fs_mkdir_p(file, 0755), -ENOTDIR);
    assert_int_equal(fs_rm_rf(dir), 0);
    assert_false(fs_exists(dir));
    assert_int_equal(fs_rm_rf(dir), 0);
}

static void test_open_in_root_cannot_escape(void **state)
{
    _cleanup_free_ char *dir = make_tmpdir();
    _cleanup_free_ char *root = fs_path_join(dir, "root");
    assert_int_equal(fs_mkdir_p(root, 0755), 0);
    _cleanup_free_ char *outside = fs_path_join(dir, "secret");
    assert_int_equal(fs_write_atomic(outside, "s", 1, 0644, NULL), 0);
    _cleanup_free_ char *link = fs_path_join(root, "escape");
    assert_int_equal(symlink("../secret", link), 0);
    _cleanup_free_ char *abslink = fs_path_join(root, "abs");
    assert_int_equal(symlink(outside, abslink), 0);

    _cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY);
    assert_true(rootfd >= 0);
    /* "../secret" resolves to <root>/secret, which does not exist: the host file is unreachable. */
    assert_int_equal(fs_open_in_root(rootfd, "escape", O_RDONLY, 0, 0), -ENOENT);
    assert_int_equal(fs_open_in_root(rootfd, "abs", O_RDONLY, 0, 0), -ENOENT);
    assert_int_equal(fs_open_in_root(rootfd, "../../secret", O_RDONLY, 0, 0), -ENOENT);

    /* mkdir -p through a symlinked component is refused rather than followed. */
    _cleanup_free_ char *dirlink = fs_path_join(root, "d");
    assert_int_equal(symlink("/tmp", dirlink), 0);
    assert_int_equal(fs_mkdir_p_in_root(rootfd, "d/x", 0755), -ELOOP);
    int fd = fs_mkdir_p_in_root(rootfd, "/etc/sub", 0755);
    assert_true(fd >= 0);
    close(fd);
    _cleanup_free_ char *made = fs_path_join(root, "etc/sub");
    assert_true(fs_exists(made));
    assert_int_equal(fs_rm_rf(dir), 0);
}

static void test_json_load_errors_are_positioned(void **state)
{
    struct berth_error err = { 0 };
    json_t *v = NULL;
    assert_int_equal(json_load_buffer("{\"a\": }", 7, "config.json", &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "config.json:1:"));
    berth_error_clear(&err);
    assert_int_equal(json_load_buffer("{\"a\":1,\"a\":2}", 13, "dup.json", &v, &err), -EINVAL);
    berth_error_clear(&err);

    _cleanup_json_ json_t *o = NULL;
    assert_int_equal(json_load_buffer("{\"s\":\"x\",\"n\":-3,\"b\":true}", 25, "t", &o, &err), 0);
    const char *s = NULL;
    int64_t n = 0;
    uint64_t u = 7;
    bool b = false;
    assert_int_equal(json_opt_string(o, "s", "root", &s, &err), 0);
    assert_string_equal(s, "x");
    assert_int_equal(json_opt_int64(o, "n", "root", &n, &err), 0);
    assert_int_equal(n, -3);
    assert_int_equal(json_opt_bool(o, "b", "root", &b, &err), 0);
    assert_true(b);
    assert_int_equal(json_opt_uint64(o, "missing", "root", &u, &err), 0);
    assert_int_equal(u, 7);
    assert_int_equal(json_opt_uint64(o, "n", "root", &u, &err), -EINVAL);
    assert_string_equal(err.msg, "root.n: must be a non-negative integer");
}

static void test_strv(void **state)
{
    _cleanup_strv_ char **v = NULL;
    assert_int_equal(strv_push(&v, "PATH=/bin"), 0);
    assert_int_equal(strv_push(&v, "HOME=/root"), 0);
    assert_int_equal(strv_length(v), 2);
    assert_int_equal(strv_env_find(v, "HOME"), 1);
    assert_int_equal(strv_env_find(v, "HOM"), -1);
    assert_null(v[2]);
}

static void test_array_reserve_doubles_and_keeps_contents(void **state)
{
    (void) state;
    int *v = NULL;
    size_t cap = 0;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(ARRAY_RESERVE(v, cap, (size_t) i + 1, 4), 0);
        assert_true(cap >= (size_t) i + 1);
        v[i] = i * 3;
    }
    assert_int_equal(cap, 128);
    for (int i = 0; i < 100; i++)
        assert_int_equal(v[i], i * 3);
    /* Asking for less than the capacity is a no-op. */
    int *before = v;
    assert_int_equal(ARRAY_RESERVE(v, cap, 10, 4), 0);
    assert_ptr_equal(v, before);
    /* A size that cannot be represented fails without touching the array. */
    assert_int_equal(ARRAY_RESERVE(v, cap, (size_t) -1 / 2, 4), -EOVERFLOW);
    assert_ptr_equal(v, before);
    assert_int_equal(cap, 128);
    free(v);
}

static void test_tty_enter_raw_only_on_terminals(void **state)
{
    (void) state;
    int pipefd[2];
    struct termios saved;
    assert_int_equal(pipe(pipefd), 0);
    assert_false(tty_enter_raw(pipefd[0], TCSANOW, &saved));
    close(pipefd[0]);
    close(pipefd[1]);

    int master, slave;
    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    struct termios before, now;
    assert_int_equal(tcgetattr(slave, &before), 0);
    assert_true(before.c_lflag & ICANON);
    assert_true(tty_enter_raw(slave, TCSANOW, &saved));
    assert_int_equal(tcgetattr(slave, &now), 0);
    assert_false(now.c_lflag & (ICANON | ECHO | ISIG));
    /* What was saved is what the terminal had, so restoring it gives the cooked mode back. */
    assert_int_equal(tcsetattr(slave, TCSANOW, &saved), 0);
    assert_int_equal(tcgetattr(slave, &now), 0);
    assert_int_equal(now.c_lflag, before.c_lflag);
    close(slave);
    close(master);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_keeps_innermost_and_prefixes),
        cmocka_unit_test(test_atomic_write_and_capped_read),
        cmocka_unit_test(test_write_replace_replaces_without_leftovers),
        cmocka_unit_test(test_mkdir_p_and_rm_rf),
        cmocka_unit_test(test_open_in_root_cannot_escape),
        cmocka_unit_test(test_json_load_errors_are_positioned),
        cmocka_unit_test(test_strv),
        cmocka_unit_test(test_array_reserve_doubles_and_keeps_contents),
        cmocka_unit_test(test_tty_enter_raw_only_on_terminals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
