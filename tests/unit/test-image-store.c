/* The image store: adding images from blobs, lookups, tags, holds, derived reference counts and
 * prune. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "image/image.h"
#include "image/manifest.h"
#include "image/mount.h"

static char tmpl[64];
static struct image_store *is;

static int setup(void **state)
{
    strcpy(tmpl, "/tmp/berth-test-images-XXXXXX");
    if (!mkdtemp(tmpl))
        return -1;
    struct berth_error err = { 0 };
    return image_store_open(tmpl, &is, &err);
}

static int teardown(void **state)
{
    image_store_free(is);
    is = NULL;
    /* A failed mount test must not leave its mount behind. */
    _cleanup_free_ char *mnt = fs_path_join(tmpl, "mnt");
    if (mnt)
        umount2(mnt, MNT_DETACH);
    fs_rm_rf(tmpl);
    return 0;
}

/* An uncompressed layer of files (NULL-terminated name, content pairs; a name ending in '/' is
 * a directory); its digest is also its diff_id. */
static void put_layer_files(const char *const *files, char digest[72])
{
    static char buf[65536];
    size_t used = 0;
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    assert_int_equal(archive_write_open_memory(a, buf, sizeof(buf), &used), ARCHIVE_OK);
    for (size_t i = 0; files[i]; i += 2) {
        const char *file = files[i], *content = files[i + 1];
        bool dir = file[strlen(file) - 1] == '/';
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, file);
        archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(e, dir ? 0755 : 0644);
        archive_entry_set_size(e, dir ? 0 : (la_int64_t) strlen(content));
        archive_write_header(a, e);
        if (!dir)
            archive_write_data(a, content, strlen(content));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    char *d = NULL;
    assert_int_equal(blobstore_put(image_store_blobs(is), buf, used, NULL, &d, NULL), 0);
    strcpy(digest, d);
    free(d);
}

static void put_layer(const char *file, const char *content, char digest[72])
{
    const char *files[] = { file, content, NULL };
    put_layer_files(files, digest);
}

static uint64_t blob_size(const char *digest)
{
    uint64_t s = 0;
    assert_int_equal(blobstore_has(image_store_blobs(is), digest, &s), 1);
    return s;
}

/* Stores config + manifest over the given layers; diff_ids may differ from layers (corruption). */
static void put_image(char layers[][72], char diff_ids[][72], size_t n, const char *salt, char manifest[72])
{
    char cfg[2048];
    int o = snprintf(cfg, sizeof(cfg), "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"s\":\"%s\"}},"
                     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[", salt);
    for (size_t i = 0; i < n; i++)
        o += snprintf(cfg + o, sizeof(cfg) - (size_t) o, "%s\"%s\"", i ? "," : "", diff_ids[i]);
    snprintf(cfg + o, sizeof(cfg) - (size_t) o, "]}}");
    char *cd = NULL;
    assert_int_equal(blobstore_put(image_store_blobs(is), cfg, strlen(cfg), NULL, &cd, NULL), 0);
    char m[4096];
    o = snprintf(m, sizeof(m), "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
                 "\"size\":%zu},\"layers\":[", MEDIA_OCI_MANIFEST, MEDIA_OCI_CONFIG, cd, strlen(cfg));
    for (size_t i = 0; i < n; i++)
        o += snprintf(m + o, sizeof(m) - (size_t) o, "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%llu}",
                      i ? "," : "", MEDIA_OCI_LAYER, layers[i], (unsigned long long) blob_size(layers[i]));
    snprintf(m + o, sizeof(m) - (size_t) o, "]}");
    char *md = NULL;
    assert_int_equal(blobstore_put(image_store_blobs(is), m, strlen(m), NULL, &md, NULL), 0);
    strcpy(manifest, md);
    free(cd);
    free(md);
}

static void test_add_lookup_and_layers(void **state)
{
    char layers[2][72], m[72];
    put_layer("a", "base", layers[0]);
    put_layer("b", "top", layers[1]);
    put_image(layers, layers, 2, "1", m);
    struct berth_error err = { 0 };
    _cleanup_free_ char *digest = NULL;
    if (image_store_add(is, m, "example.com/app:1", NULL, &digest, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(digest, m);
    /* Idempotent. */
    assert_int_equal(image_store_add(is, m, "app", NULL, NULL, &err), 0);

    struct image *img = NULL;
    assert_int_equal(image_lookup(is, "example.com/app:1", &img, &err), 0);
    assert_string_equal(img->digest, m);
    assert_int_equal(img->n_layers, 2);
    assert_string_equal(img->names[0], "docker.io/library/app:latest");
    assert_string_equal(img->names[1], "example.com/app:1");
    _cleanup_strv_ char **dirs = NULL;
    assert_int_equal(image_layer_dirs(is, img, &dirs, &err), 0);
    assert_int_equal(strv_length(dirs), 2);
    _cleanup_free_ char *f = fs_path_join(dirs[1], "b");
    assert_true(fs_exists(f));
    json_t *cfg = NULL;
    assert_int_equal(image_get_config(is, img, &cfg, &err), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(cfg, "config"), "Labels"), "s")), "1");
    json_decref(cfg);

    /* By manifest digest, by config id prefix, by short id. */
    struct image *again = NULL;
    assert_int_equal(image_lookup(is, m, &again, &err), 0);
    image_free(again);
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "%.12s", img->config_digest + 7);
    assert_int_equal(image_lookup(is, prefix, &again, &err), 0);
    assert_string_equal(again->digest, m);
    image_free(again);
    char by_digest[200];
    snprintf(by_digest, sizeof(by_digest), "whatever@%s", m);
    assert_int_equal(image_lookup(is, by_digest, &again, &err), 0);
    image_free(again);
    image_free(img);

    berth_error_clear(&err);
    assert_int_equal(image_lookup(is, "nothere", &img, &err), -ENOENT);
    assert_string_equal(err.msg, "image 'nothere' not found");
}

static void test_refcounts_rm_and_prune(void **state)
{
    char shared[72], only1[72], only2[72], m1[72], m2[72];
    put_layer("s", "shared", shared);
    put_layer("o1", "one", only1);
    put_layer("o2", "two", only2);
    char l1[2][72], l2[2][72];
    strcpy(l1[0], shared);
    strcpy(l1[1], only1);
    strcpy(l2[0], shared);
    strcpy(l2[1], only2);
    put_image(l1, l1, 2, "a", m1);
    put_image(l2, l2, 2, "b", m2);
    struct berth_error err = { 0 };
    assert_int_equal(image_store_add(is, m1, "one", NULL, NULL, &err), 0);
    assert_int_equal(image_store_add(is, m2, "two", NULL, NULL, &err), 0);
    assert_int_equal(image_store_blob_refs(is, shared, &err), 2);
    assert_int_equal(image_store_layer_refs(is, shared, &err), 2);
    assert_int_equal(image_store_blob_refs(is, only1, &err), 1);

    /* A name moves: tagging image two as "one" leaves image one untagged. */
    assert_int_equal(image_tag(is, "two", "one", &err), 0);
    struct image *img = NULL;
    assert_int_equal(image_lookup(is, "one", &img, &err), 0);
    assert_string_equal(img->digest, m2);
    image_free(img);

    /* Prune drops the untagged image one, its own blob and layer, keeps what two uses. */
    struct image_prune_result res;
    assert_int_equal(image_store_prune(is, false, &res, &err), 0);
    assert_int_equal(res.images, 1);
    assert_int_equal(res.layers, 1);
    assert_true(res.blobs >= 3); /* manifest, config, layer of image one */
    assert_int_equal(blobstore_has(image_store_blobs(is), only1, NULL), 0);
    assert_int_equal(blobstore_has(image_store_blobs(is), shared, NULL), 1);
    assert_int_equal(image_store_layer_unpacked(is, shared), 1);
    assert_int_equal(image_store_layer_unpacked(is, only1), 0);
    assert_int_equal(image_store_layer_refs(is, shared, &err), 1);

    /* Holds: rm refused, rm -f keeps the image (unnamed) while held, prune keeps it. */
    assert_int_equal(image_store_hold(is, m2, "container:abc", &err), 0);
    assert_int_equal(image_store_hold(is, m2, "container:abc", &err), 0);
    int removed = -1;
    berth_error_clear(&err);
    assert_int_equal(image_remove(is, m2, false, &removed, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "in use by 1 container"));
    berth_error_clear(&err);
    /* Removing one of two names only untags. */
    assert_int_equal(image_remove(is, "two", false, &removed, &err), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(image_remove(is, "one", true, &removed, &err), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(image_store_prune(is, true, &res, &err), 0);
    assert_int_equal(res.images, 0);
    assert_int_equal(blobstore_has(image_store_blobs(is), shared, NULL), 1);
    assert_int_equal(image_store_release(is, m2, "container:abc", &err), 0);
    assert_int_equal(image_store_prune(is, false, &res, &err), 0);
    assert_int_equal(res.images, 1);
    assert_int_equal(res.layers, 2);
    assert_int_equal(blobstore_has(image_store_blobs(is), shared, NULL), 0);
    struct image **list = NULL;
    size_t n = 9;
    assert_int_equal(image_list(is, &list, &n, &err), 0);
    assert_int_equal(n, 0);
    image_list_free(list, n);
}

static void test_diff_id_mismatch_is_refused(void **state)
{
    char layers[1][72], wrong[1][72], m[72];
    put_layer("x", "real", layers[0]);
    put_layer("y", "other", wrong[0]);
    put_image(layers, wrong, 1, "c", m);
    struct berth_error err = { 0 };
    assert_int_equal(image_store_add(is, m, "bad", NULL, NULL, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "does not match the image config"));
    struct image *img = NULL;
    assert_int_equal(image_lookup(is, "bad", &img, NULL), -ENOENT);
    assert_int_equal(image_store_layer_unpacked(is, wrong[0]), 0);

    /* A manifest whose blobs are missing. */
    char missing[1][72] = { "sha256:0000000000000000000000000000000000000000000000000000000000000000" };
    berth_error_clear(&err);
    assert_int_equal(image_store_add(is, missing[0], NULL, NULL, NULL, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "not in the blob store"));
}

static bool visible(const char *dir, const char *name)
{
    _cleanup_free_ char *p = fs_path_join(dir, name);
    return fs_exists(p);
}

static void test_overlay_mount_honours_whiteouts(void **state)
{
    if (geteuid() != 0)
        skip();
    const char *lower[] = { "a", "1", "b", "2", "d/", "", "d/x", "3", NULL };
    const char *upper[] = { ".wh.a", "", "d/", "", "d/.wh..wh..opq", "", "d/y", "4", NULL };
    char layers[2][72], m[72];
    put_layer_files(lower, layers[0]);
    put_layer_files(upper, layers[1]);
    put_image(layers, layers, 2, "ovl", m);
    struct berth_error err = { 0 };
    if (image_store_add(is, m, "ovl", NULL, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    struct image *img = NULL;
    assert_int_equal(image_lookup(is, "ovl", &img, &err), 0);
    _cleanup_free_ char *target = fs_path_join(tmpl, "mnt");
    _cleanup_free_ char *up = fs_path_join(tmpl, "upper");
    _cleanup_free_ char *work = fs_path_join(tmpl, "work");
    assert_int_equal(mkdir(target, 0755), 0);
    assert_int_equal(mkdir(up, 0755), 0);
    assert_int_equal(mkdir(work, 0755), 0);
    int r = image_mount_rootfs(is, img, NULL, NULL, target, &err);
    if (r == -EPERM || r == -ENODEV) {
        image_free(img);
        skip();
    }
    if (r < 0)
        fail_msg("%s", err.msg);
    assert_false(visible(target, "a"));
    assert_true(visible(target, "b"));
    assert_false(visible(target, "d/x"));
    assert_true(visible(target, "d/y"));
    assert_int_equal(image_umount_rootfs(target, &err), 0);
    /* Writable: writes land in upperdir, the layers stay untouched. */
    if (image_mount_rootfs(is, img, up, work, target, &err) < 0)
        fail_msg("%s", err.msg);
    _cleanup_free_ char *newfile = fs_path_join(target, "new");
    assert_int_equal(fs_write_atomic(newfile, "x", 1, 0644, &err), 0);
    assert_int_equal(image_umount_rootfs(target, &err), 0);
    assert_true(visible(up, "new"));
    _cleanup_strv_ char **dirs = NULL;
    assert_int_equal(image_layer_dirs(is, img, &dirs, &err), 0);
    assert_false(visible(dirs[1], "new"));
    _cleanup_free_ char *opts = NULL;
    assert_int_equal(image_overlay_options(is, img, up, work, &opts, &err), 0);
    assert_non_null(strstr(opts, dirs[1]));
    assert_true(strstr(opts, dirs[1]) < strstr(opts, dirs[0])); /* top layer first */
    image_free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_lookup_and_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refcounts_rm_and_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_diff_id_mismatch_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_mount_honours_whiteouts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
