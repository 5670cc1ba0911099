/* Layer unpacking: whiteouts and opaque dirs become overlayfs metadata, hostile entries are
 * refused without anything written outside the layer directory. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "image/blobstore.h"
#include "image/unpack.h"

enum { F, D, L, H, C };
struct ent {
    int kind;
    const char *name;
    const char *arg; /* file content, symlink or hard link target */
};

static char tmpl[] = "/tmp/berth-test-unpack-XXXXXX";
static char *top;

static int setup(void **state)
{
    top = mkdtemp(tmpl);
    return top ? 0 : -1;
}

static int teardown(void **state)
{
    fs_rm_rf(top);
    return 0;
}

/* Writes a tar (gzip when gz) with ents to a temp file; returns an fd at offset 0. */
static int make_tar(const struct ent *ents, size_t n, bool gz)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/layer.tar", top);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gz)
        archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, ents[i].name);
        archive_entry_set_mtime(e, 1000000, 0);
        switch (ents[i].kind) {
        case F:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0644);
            archive_entry_set_size(e, (la_int64_t) strlen(ents[i].arg));
            break;
        case D:
            archive_entry_set_filetype(e, AE_IFDIR);
            archive_entry_set_perm(e, 0755);
            break;
        case L:
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_perm(e, 0777);
            archive_entry_set_symlink(e, ents[i].arg);
            break;
        case H:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0644);
            archive_entry_set_hardlink(e, ents[i].arg);
            break;
        case C:
            archive_entry_set_filetype(e, AE_IFCHR);
            archive_entry_set_perm(e, 0666);
            archive_entry_set_rdev(e, makedev(1, 3));
            break;
        }
        assert_true(archive_write_header(a, e) >= ARCHIVE_WARN);
        if (ents[i].kind == F)
            archive_write_data(a, ents[i].arg, strlen(ents[i].arg));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static int unpack(const struct ent *ents, size_t n, bool gz, const struct layer_unpack_options *o,
                  struct layer_unpack_result *res, struct berth_error *err, int *ret_dfd)
{
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/out", top);
    fs_rm_rf(dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_close_ int fd = make_tar(ents, n, gz);
    int r = layer_unpack(fd, dfd, "layer", o, res, err);
    *ret_dfd = dfd;
    return r;
}

static void test_whiteouts_and_opaque(void **state)
{
    if (geteuid() != 0)
        skip();
    const struct ent ents[] = {
        { D, "./etc/", NULL },
        { F, "./etc/.wh.passwd", "" },
        { D, "./var/", NULL },
        { F, "./var/.wh..wh..opq", "" },
        { F, "./var/new", "fresh" },
        { F, "./.wh..wh.plnk", "" },
    };
    struct layer_unpack_result res;
    struct berth_error err = { 0 };
    _cleanup_close_ int dfd = -1;
    int r = unpack(ents, ARRAY_SIZE(ents), true, NULL, &res, &err, &dfd);
    if (r < 0)
        fail_msg("%s", err.msg);
    struct stat st;
    assert_int_equal(fstatat(dfd, "etc/passwd", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(0, 0));
    assert_int_equal(fstatat(dfd, "etc/.wh.passwd", &st, AT_SYMLINK_NOFOLLOW), -1);
    _cleanup_close_ int var = openat(dfd, "var", O_RDONLY | O_DIRECTORY);
    char v[4] = "";
    assert_int_equal(fgetxattr(var, "trusted.overlay.opaque", v, sizeof(v)), 1);
    assert_int_equal(v[0], 'y');
    assert_int_equal(fstatat(dfd, "var/new", &st, 0), 0);
    assert_int_equal(fstatat(dfd, ".wh..wh.plnk", &st, AT_SYMLINK_NOFOLLOW), -1);
    assert_int_equal(res.entries, ARRAY_SIZE(ents));
    assert_true(strncmp(res.diff_id, "sha256:", 7) == 0);
}

static void test_later_entries_replace_earlier_ones(void **state)
{
    if (geteuid() != 0)
        skip();
    const struct ent ents[] = {
        { D, "a/", NULL },    { F, "a/inner", "x" }, { F, "a", "now a file" },  /* file over dir */
        { D, "b/", NULL },    { D, "b/c/", NULL },   { F, "b/c/deep", "y" },
        { F, "b/.wh.c", "" },                                                     /* whiteout over dir */
        { L, "s", "/nowhere" }, { D, "s/", NULL },                               /* dir over symlink */
        { F, "f", "old" },    { F, "f", "new" },
    };
    struct layer_unpack_result res;
    struct berth_error err = { 0 };
    _cleanup_close_ int dfd = -1;
    int r = unpack(ents, ARRAY_SIZE(ents), false, NULL, &res, &err, &dfd);
    if (r < 0)
        fail_msg("%s", err.msg);
    struct stat st;
    assert_int_equal(fstatat(dfd, "a", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(fstatat(dfd, "b/c", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(fstatat(dfd, "s", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISDIR(st.st_mode));
    char buf[8] = "";
    _cleanup_close_ int f = openat(dfd, "f", O_RDONLY);
    assert_int_equal(read(f, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "new", 3);
}

static void test_diff_id_is_uncompressed_sha256(void **state)
{
    const struct ent ents[] = { { F, "a", "hello" } };
    struct layer_unpack_result plain, gz;
    struct berth_error err = { 0 };
    _cleanup_close_ int d1 = -1, d2 = -1;
    assert_int_equal(unpack(ents, 1, false, NULL, &plain, &err, &d1), 0);
    /* The diff_id of the plain tar is the sha256 of the file itself. */
    char path[256];
    snprintf(path, sizeof(path), "%s/layer.tar", top);
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    assert_int_equal(fs_read_file(path, 1 << 20, &data, &len, NULL), 0);
    char want[72];
    digest_of_buffer(data, len, want);
    assert_string_equal(plain.diff_id, want);
    assert_int_equal(unpack(ents, 1, true, NULL, &gz, &err, &d2), 0);
    assert_string_equal(gz.diff_id, plain.diff_id);
}

static void expect_refused(const struct ent *ents, size_t n, int code, const char *part)
{
    struct layer_unpack_result res;
    struct berth_error err = { 0 };
    _cleanup_close_ int dfd = -1;
    struct layer_unpack_options o = { .allow_devices = 0 };
    int r = unpack(ents, n, false, &o, &res, &err, &dfd);
    if (r != code)
        fail_msg("expected %d, got %d (%s)", code, r, err.msg);
    if (!strstr(err.msg, part))
        fail_msg("'%s' lacks '%s'", err.msg, part);
    /* Nothing escaped into the test's directory next to the layer. */
    struct stat st;
    char p[256];
    snprintf(p, sizeof(p), "%s/escaped", top);
    assert_int_equal(lstat(p, &st), -1);
}

static void test_hostile_entries(void **state)
{
    const struct ent dotdot[] = { { F, "../escaped", "x" } };
    expect_refused(dotdot, 1, -EINVAL, "'..'");
    const struct ent dotdot2[] = { { D, "a", NULL }, { F, "a/../../escaped", "x" } };
    expect_refused(dotdot2, 2, -EINVAL, "'..'");
    char target[256];
    snprintf(target, sizeof(target), "%s", top);
    const struct ent through[] = { { L, "link", target }, { F, "link/escaped", "x" } };
    expect_refused(through, 2, -ELOOP, "symlink");
    const struct ent rel_through[] = { { L, "up", ".." }, { F, "up/escaped", "x" } };
    expect_refused(rel_through, 2, -ELOOP, "symlink");
    snprintf(target, sizeof(target), "%s/layer.tar", top);
    const struct ent hard[] = { { H, "h", target } };
    expect_refused(hard, 1, -ENOENT, "not a file of this layer");
    const struct ent hard_up[] = { { H, "h", "../layer.tar" } };
    expect_refused(hard_up, 1, -EINVAL, "leaves the layer");
    const struct ent dev[] = { { C, "null", NULL } };
    expect_refused(dev, 1, -EPERM, "device node refused");
}

static void test_absolute_paths_stay_inside(void **state)
{
    char abs[256];
    snprintf(abs, sizeof(abs), "%s/escaped", top);
    const struct ent ents[] = { { F, abs, "x" }, { L, "sym", "/etc/passwd" }, { H, "hl", abs } };
    struct layer_unpack_result res;
    struct berth_error err = { 0 };
    _cleanup_close_ int dfd = -1;
    int r = unpack(ents, ARRAY_SIZE(ents), false, NULL, &res, &err, &dfd);
    if (r < 0)
        fail_msg("%s", err.msg);
    struct stat st;
    assert_int_equal(lstat(abs, &st), -1);
    assert_int_equal(fstatat(dfd, abs + 1, &st, AT_SYMLINK_NOFOLLOW), 0);
    /* A hard link to an absolute name links the layer's own file. */
    struct stat st2;
    assert_int_equal(fstatat(dfd, "hl", &st2, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(st.st_ino, st2.st_ino);
    char buf[64];
    ssize_t n = readlinkat(dfd, "sym", buf, sizeof(buf));
    assert_int_equal(n, 11);
}

static void test_limits(void **state)
{
    static char big[4096];
    memset(big, 'z', sizeof(big) - 1);
    const struct ent ents[] = { { F, "a", big }, { F, "b", big }, { F, "c", "x" } };
    struct layer_unpack_result res;
    struct berth_error err = { 0 };
    _cleanup_close_ int d1 = -1, d2 = -1;
    struct layer_unpack_options o = { .max_bytes = 6000, .allow_devices = -1 };
    assert_int_equal(unpack(ents, 3, true, &o, &res, &err, &d1), -EFBIG);
    assert_non_null(strstr(err.msg, "exceeds the limit of 6000 bytes"));
    berth_error_clear(&err);
    struct layer_unpack_options o2 = { .max_entries = 2, .allow_devices = -1 };
    assert_int_equal(unpack(ents, 3, false, &o2, &res, &err, &d2), -EFBIG);
    assert_non_null(strstr(err.msg, "more than 2 entries"));
}

static void test_not_a_tar(void **state)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/junk", top);
    assert_int_equal(fs_write_atomic(path, "this is not a tar archive at all, not even close..........", 58, 0644, NULL), 0);
    _cleanup_close_ int fd = open(path, O_RDONLY);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/out2", top);
    mkdir(dir, 0755);
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    struct berth_error err = { 0 };
    assert_int_equal(layer_unpack(fd, dfd, "layer", NULL, NULL, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "layer: "));
}

static void test_parse_size(void **state)
{
    uint64_t v;
    assert_int_equal(parse_size("100", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(parse_size("10M", &v), 0);
    assert_int_equal(v, 10u << 20);
    assert_int_equal(parse_size("2GiB", &v), 0);
    assert_int_equal(v, 2ull << 30);
    assert_int_equal(parse_size("-1", &v), -EINVAL);
    assert_int_equal(parse_size("5X", &v), -EINVAL);
    assert_int_equal(parse_size("", &v), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whiteouts_and_opaque),
        cmocka_unit_test(test_later_entries_replace_earlier_ones),
        cmocka_unit_test(test_diff_id_is_uncompressed_sha256),
        cmocka_unit_test(test_hostile_entries),
        cmocka_unit_test(test_absolute_paths_stay_inside),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_not_a_tar),
        cmocka_unit_test(test_parse_size),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
