#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "image/blobstore.h"

static const char hello_digest[] = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

static int count_blob(const char *digest, uint64_t size, void *userdata)
{
    (*(int *) userdata)++;
    return 0;
}

static void test_put_read_delete(void **state)
{
    char dir[] = "/tmp/berth-test-blobs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct blobstore *bs = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(blobstore_open(dir, &bs, &err), 0);

    _cleanup_free_ char *digest = NULL;
    assert_int_equal(blobstore_put(bs, "hello", 5, hello_digest, &digest, &err), 0);
    assert_string_equal(digest, hello_digest);
    uint64_t size = 0;
    assert_int_equal(blobstore_has(bs, hello_digest, &size), 1);
    assert_int_equal(size, 5);

    _cleanup_free_ char *data = NULL;
    assert_int_equal(blobstore_read(bs, hello_digest, 100, &data, NULL, &err), 0);
    assert_memory_equal(data, "hello", 5);

    int n = 0;
    assert_int_equal(blobstore_foreach(bs, count_blob, &n), 0);
    assert_int_equal(n, 1);

    assert_int_equal(blobstore_delete(bs, hello_digest, &err), 0);
    assert_int_equal(blobstore_has(bs, hello_digest, NULL), 0);
    blobstore_free(bs);
    assert_int_equal(fs_rm_rf(dir), 0);
}

static void test_mismatch_leaves_nothing_visible(void **state)
{
    char dir[] = "/tmp/berth-test-blobs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct blobstore *bs = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(blobstore_open(dir, &bs, &err), 0);
    assert_int_equal(blobstore_put(bs, "hellO", 5, hello_digest, NULL, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "digest mismatch"));
    assert_int_equal(blobstore_has(bs, hello_digest, NULL), 0);

    /* Nothing is left in staging either. */
    _cleanup_free_ char *staging = fs_path_join(dir, "blobs/.staging");
    assert_int_equal(rmdir(staging), 0);

    berth_error_clear(&err);
    assert_int_equal(blobstore_has(bs, "sha256:../../etc/passwd", NULL), -EINVAL);
    assert_false(digest_is_valid("sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824"));
    assert_false(digest_is_valid("md5:abc"));
    blobstore_free(bs);
    assert_int_equal(fs_rm_rf(dir), 0);
}

static void test_corrupt_blob_detected_on_read(void **state)
{
    char dir[] = "/tmp/berth-test-blobs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct blobstore *bs = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(blobstore_open(dir, &bs, &err), 0);
    assert_int_equal(blobstore_put(bs, "hello", 5, NULL, NULL, &err), 0);
    _cleanup_free_ char *path = NULL;
    assert_int_equal(blobstore_path(bs, hello_digest, &path, &err), 0);
    assert_int_equal(fs_write_atomic(path, "jello", 5, 0644, &err), 0);
    char *data = NULL;
    assert_int_equal(blobstore_read(bs, hello_digest, 100, &data, NULL, &err), -EBADMSG);
    assert_null(data);
    blobstore_free(bs);
    assert_int_equal(fs_rm_rf(dir), 0);
}

/* A named staging file outlives its writer: resumed later (as by a restarted registry), the
 * hash covers what was written before and after, and the blob verifies. */
static void test_named_writer_resumes(void **state)
{
    char dir[] = "/tmp/berth-test-blobs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct blobstore *bs = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(blobstore_open(dir, &bs, &err), 0);

    struct blob_writer *w = NULL;
    assert_int_equal(blobstore_writer_begin_named(bs, "session-abc", &w, &err), 0);
    assert_int_equal(blob_writer_write(w, "hel", 3, &err), 0);
    blob_writer_close(w);
    struct blob_writer *w2 = NULL;
    assert_int_equal(blobstore_writer_begin_named(bs, "session-abc", &w2, &err), -EEXIST);
    berth_error_clear(&err);

    uint64_t size = 0;
    time_t mtime = 0;
    assert_int_equal(blobstore_staging_stat(bs, "session-abc", &size, &mtime), 1);
    assert_int_equal(size, 3);
    assert_true(mtime > 0);

    assert_int_equal(blobstore_writer_resume(bs, "session-abc", &w, &err), 0);
    assert_int_equal(blob_writer_size(w), 3);
    assert_int_equal(blob_writer_write(w, "lo", 2, &err), 0);
    blob_writer_touch(w);
    _cleanup_free_ char *digest = NULL;
    assert_int_equal(blob_writer_commit(w, hello_digest, &digest, &err), 0);
    assert_string_equal(digest, hello_digest);
    _cleanup_free_ char *data = NULL;
    assert_int_equal(blobstore_read(bs, hello_digest, 100, &data, NULL, &err), 0);
    assert_memory_equal(data, "hello", 5);
    assert_int_equal(blobstore_staging_stat(bs, "session-abc", NULL, NULL), 0);

    /* gone, removed, or a name that would leave the staging dir */
    assert_int_equal(blobstore_writer_resume(bs, "session-abc", &w, &err), -ENOENT);
    berth_error_clear(&err);
    assert_int_equal(blobstore_writer_begin_named(bs, "x", &w, &err), 0);
    blob_writer_close(w);
    assert_int_equal(blobstore_staging_remove(bs, "x"), 0);
    assert_int_equal(blobstore_staging_remove(bs, "x"), 0);
    assert_int_equal(blobstore_staging_stat(bs, "x", NULL, NULL), 0);
    assert_int_equal(blobstore_writer_begin_named(bs, "../escape", &w, &err), -EINVAL);
    berth_error_clear(&err);
    assert_int_equal(blobstore_staging_remove(bs, "../sha256"), -EINVAL);

    blobstore_free(bs);
    assert_int_equal(fs_rm_rf(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_read_delete),
        cmocka_unit_test(test_mismatch_leaves_nothing_visible),
        cmocka_unit_test(test_corrupt_blob_detected_on_read),
        cmocka_unit_test(test_named_writer_resumes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
