#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "image/image-internal.h"
#include "registry/storage.h"

struct blob_sweep {
    struct image_store *is;
    struct image_prune_result *res;
    struct berth_error *err;
    char **doomed;
    size_t n, cap;
};

static int collect_blob(const char *digest, uint64_t size, void *userdata)
{
    struct blob_sweep *s = userdata;
    int refs = image_store_blob_refs(s->is, digest, s->err);
    if (refs < 0)
        return refs;
    if (refs > 0)
        return 0;
    /* A registry serving from the same root (berth registry serve) holds blobs no image lists. */
    if (registry_store_references(image_store_db(s->is), digest) != 0)
        return 0;
    if (ARRAY_RESERVE(s->doomed, s->cap, s->n + 1, 32) < 0)
        return -ENOMEM;
    if (!(s->doomed[s->n] = strdup(digest)))
        return -ENOMEM;
    s->n++;
    s->res->bytes += size;
    return 0;
}

static uint64_t du(const char *path)
{
    /* Sizes of what a layer dir holds, for the report only; errors just count less. */
    uint64_t total = 0;
    _cleanup_closedir_ DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            _cleanup_free_ char *sub = fs_path_join(path, de->d_name);
            if (sub)
                total += du(sub);
        } else if (S_ISREG(st.st_mode)) {
            total += (uint64_t) st.st_blocks * 512;
        }
    }
    return total;
}

static int sweep_layers(struct image_store *is, struct image_prune_result *res, struct berth_error *err)
{
    _cleanup_closedir_ DIR *d = opendir(is->layers_dir);
    if (!d)
        return berth_error_errno(err, -errno, "%s", is->layers_dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strlen(de->d_name) != 64)
            continue;
        char diff_id[72];
        memcpy(diff_id, "sha256:", 7);
        memcpy(diff_id + 7, de->d_name, 65);
        if (!digest_is_valid(diff_id))
            continue;
        int refs = image_store_layer_refs(is, diff_id, err);
        if (refs < 0)
            return refs;
        if (refs > 0)
            continue;
        _cleanup_free_ char *path = fs_path_join(is->layers_dir, de->d_name);
        if (!path)
            return berth_error_set(err, -ENOMEM, "out of memory");
        uint64_t bytes = du(path);
        /* Forget the row first: a layer row without its dir is re-unpacked, never trusted. */
        int r = image_db_exec1(is, "DELETE FROM layers WHERE diff_id = ?", diff_id, NULL, err);
        if (r < 0)
            return r;
        r = fs_rm_rf(path);
        if (r < 0)
            return berth_error_errno(err, r, "removing layer %s (is a container using it still mounted?)", path);
        res->layers++;
        res->bytes += bytes;
    }
    /* Rows of layers whose dir vanished. */
    return image_db_exec1(is, "DELETE FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM image_layers)", NULL, NULL,
                          err) < 0 ? -EIO : 0;
}

/* skip_prefix (may be NULL): names left alone (the registry's upload sessions, which its own gc
 * expires: a paused upload is not a leftover). */
static void sweep_staging(const char *dir, time_t older_than, const char *skip_prefix)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (skip_prefix && !strncmp(de->d_name, skip_prefix, strlen(skip_prefix)))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_mtime > older_than)
            continue;
        _cleanup_free_ char *p = fs_path_join(dir, de->d_name);
        if (p)
            fs_rm_rf(p);
    }
}

int image_store_prune(struct image_store *is, bool all, struct image_prune_result *ret, struct berth_error *err)
{
    struct image_prune_result res = { 0 };
    _cleanup_free_ char *blob_staging = fs_path_join(is->root, "blobs/.staging");
    int r = image_store_lock_exclusive(is, err);
    if (r < 0)
        return r;
    r = image_db_exec1(is,
                       all ? "DELETE FROM images WHERE digest NOT IN (SELECT image FROM image_holds)"
                           : "DELETE FROM images WHERE digest NOT IN (SELECT image FROM image_holds)"
                             " AND digest NOT IN (SELECT image FROM image_tags)",
                       NULL, NULL, err);
    if (r < 0)
        goto out;
    res.images = (size_t) r;

    struct blob_sweep s = { .is = is, .res = &res, .err = err };
    r = blobstore_foreach(is->blobs, collect_blob, &s);
    for (size_t i = 0; i < s.n; i++) {
        if (r >= 0 && blobstore_delete(is->blobs, s.doomed[i], err) == 0)
            res.blobs++;
        free(s.doomed[i]);
    }
    free(s.doomed);
    if (r < 0) {
        r = berth_error_errno(err, r, "pruning blobs");
        goto out;
    }
    r = sweep_layers(is, &res, err);
    if (r < 0)
        goto out;
    /* Leftovers of interrupted imports and unpacks. Unpacks hold the shared lock, so none is
     * running now: every layer staging dir is a leftover. The blob staging dir is shared with
     * the registry server, which writes uploads there without our lock: the age check spares
     * an upload in progress. */
    sweep_staging(is->staging_dir, time(NULL) + 1, NULL);
    if (blob_staging)
        sweep_staging(blob_staging, time(NULL) - 60, REGISTRY_UPLOAD_PREFIX);
out:
    image_store_unlock(is);
    if (r >= 0 && ret)
        *ret = res;
    return r < 0 ? r : 0;
}
