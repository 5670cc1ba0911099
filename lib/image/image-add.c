#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "image/image-internal.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/unpack.h"

static int read_document(struct image_store *is, const char *digest, const char *what, char **ret, size_t *ret_len,
                         struct berth_error *err)
{
    int r = blobstore_has(is->blobs, digest, NULL);
    if (r == 0)
        return berth_error_set(err, -ENOENT, "%s %s is not in the blob store", what, digest);
    if (r < 0)
        return berth_error_errno(err, r, "%s %s", what, digest);
    r = blobstore_read(is->blobs, digest, OCI_MANIFEST_MAX, ret, ret_len, err);
    return r < 0 ? berth_error_prefix(err, r, "%s: ", what) : 0;
}

static int check_blob(struct image_store *is, const struct oci_descriptor *d, const char *what, struct berth_error *err)
{
    uint64_t size = 0;
    int r = blobstore_has(is->blobs, d->digest, &size);
    if (r < 0)
        return berth_error_errno(err, r, "%s %s", what, d->digest);
    if (r == 0)
        return berth_error_set(err, -ENOENT, "%s %s is not in the blob store", what, d->digest);
    if (size != d->size)
        return berth_error_set(err, -EBADMSG, "%s %s: the manifest says %llu bytes, the blob has %llu", what, d->digest,
                               (unsigned long long) d->size, (unsigned long long) size);
    return 0;
}

static int record(struct image_store *is, const char *digest, const char *index_digest, const struct oci_manifest *m,
                  const struct oci_image_config *cfg, const char *tagged, struct berth_error *err)
{
    uint64_t size = m->config.size;
    for (size_t i = 0; i < m->n_layers; i++)
        size += m->layers[i].size;
    int r = store_begin(is->db, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(is->db,
                      "INSERT OR IGNORE INTO images (digest, config_digest, media_type, index_digest, size, created,"
                      " os, architecture, added) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err);
    if (r < 0)
        goto fail;
    sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m->config.digest, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->media_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, index_digest, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64) size);
    sqlite3_bind_text(st, 6, cfg->created, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, cfg->os, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, cfg->architecture, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, (sqlite3_int64) time(NULL));
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        r = berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(is->db)));
        goto fail;
    }
    bool fresh = sqlite3_changes(store_db(is->db)) > 0;
    if (fresh) {
        const char *blobs[] = { digest, m->config.digest, index_digest };
        for (size_t i = 0; i < ARRAY_SIZE(blobs) && r >= 0; i++)
            if (blobs[i])
                r = image_db_exec1(is, "INSERT OR IGNORE INTO image_blobs (image, blob) VALUES (?, ?)", digest, blobs[i], err);
        for (size_t i = 0; i < m->n_layers && r >= 0; i++) {
            r = image_db_exec1(is, "INSERT OR IGNORE INTO image_blobs (image, blob) VALUES (?, ?)", digest,
                               m->layers[i].digest, err);
            if (r < 0)
                break;
            _cleanup_stmt_ sqlite3_stmt *ls = NULL;
            r = store_prepare(is->db, "INSERT INTO image_layers (image, idx, diff_id, blob, media_type, size)"
                                      " VALUES (?, ?, ?, ?, ?, ?)", &ls, err);
            if (r < 0)
                break;
            sqlite3_bind_text(ls, 1, digest, -1, SQLITE_STATIC);
            sqlite3_bind_int(ls, 2, (int) i);
            sqlite3_bind_text(ls, 3, cfg->diff_ids[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(ls, 4, m->layers[i].digest, -1, SQLITE_STATIC);
            sqlite3_bind_text(ls, 5, m->layers[i].media_type, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ls, 6, (sqlite3_int64) m->layers[i].size);
            rc = sqlite3_step(ls);
            if (rc != SQLITE_DONE)
                r = berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(is->db)));
        }
        if (r < 0)
            goto fail;
    }
    if (tagged) {
        r = image_db_exec1(is, "INSERT OR REPLACE INTO image_tags (name, image) VALUES (?, ?)", tagged, digest, err);
        if (r < 0)
            goto fail;
    }
    r = store_commit(is->db, err);
    if (r < 0)
        goto fail;
    return fresh ? 1 : 0;
fail:
    store_rollback(is->db);
    return r;
}

static int add_locked(struct image_store *is, const char *manifest_digest, const char *tagged,
                      const struct image_add_options *opts, char **ret_digest, bool *ret_fresh, struct berth_error *err)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = read_document(is, manifest_digest, "manifest", &data, &len, err);
    if (r < 0)
        return r;
    enum oci_kind kind;
    r = oci_document_kind(data, len, manifest_digest, &kind, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *index_digest = NULL;
    _cleanup_free_ char *chosen = NULL;
    if (kind == OCI_KIND_INDEX) {
        _cleanup_(oci_index_freep) struct oci_index *idx = NULL;
        r = oci_index_parse(data, len, manifest_digest, &idx, err);
        if (r < 0)
            return r;
        const struct oci_descriptor *d = NULL;
        r = oci_index_select(idx, opts ? opts->os : NULL, opts ? opts->architecture : NULL, &d, err);
        if (r < 0)
            return berth_error_prefix(err, r, "%s: ", manifest_digest);
        if (!oci_media_is_manifest(d->media_type))
            return berth_error_set(err, -EPROTONOSUPPORT, "%s: nested indexes are not supported", manifest_digest);
        index_digest = strdup(manifest_digest);
        chosen = strdup(d->digest);
        if (!index_digest || !chosen)
            return berth_error_set(err, -ENOMEM, "out of memory");
        free(data);
        data = NULL;
        r = read_document(is, chosen, "manifest", &data, &len, err);
        if (r < 0)
            return r;
        manifest_digest = chosen;
    }
    _cleanup_(oci_manifest_freep) struct oci_manifest *m = NULL;
    r = oci_manifest_parse(data, len, manifest_digest, &m, err);
    if (r < 0)
        return r;
    r = check_blob(is, &m->config, "config", err);
    if (r < 0)
        return r;
    _cleanup_free_ char *cdata = NULL;
    size_t clen = 0;
    r = read_document(is, m->config.digest, "config", &cdata, &clen, err);
    if (r < 0)
        return r;
    _cleanup_(oci_config_freep) struct oci_image_config *cfg = NULL;
    r = oci_config_parse(cdata, clen, m->config.digest, &cfg, err);
    if (r < 0)
        return r;
    if (cfg->n_diff_ids != m->n_layers)
        return berth_error_set(err, -EBADMSG, "image %s: the config lists %zu diff_ids for %zu layers", manifest_digest,
                               cfg->n_diff_ids, m->n_layers);
    for (size_t i = 0; i < m->n_layers; i++) {
        char what[32];
        snprintf(what, sizeof(what), "layer %zu", i + 1);
        r = check_blob(is, &m->layers[i], what, err);
        if (r < 0)
            return r;
    }
    r = record(is, manifest_digest, index_digest, m, cfg, tagged, err);
    if (r < 0)
        return r;
    bool fresh = r == 1;
    if (!(opts && opts->no_unpack)) {
        _cleanup_image_ struct image *img = NULL;
        r = image_load(is, manifest_digest, &img, err);
        if (r == 0)
            r = image_unpack(is, img, opts, err);
        if (r < 0) {
            /* A layer that does not match its diff_id (or cannot be unpacked) makes the image
             * unusable: do not leave it recorded. */
            if (fresh)
                image_db_exec1(is, "DELETE FROM images WHERE digest = ?", manifest_digest, NULL, NULL);
            return r;
        }
    }
    if (ret_digest) {
        *ret_digest = strdup(manifest_digest);
        if (!*ret_digest)
            return berth_error_set(err, -ENOMEM, "out of memory");
    }
    if (ret_fresh)
        *ret_fresh = fresh;
    return 0;
}

int image_store_add(struct image_store *is, const char *manifest_digest, const char *ref,
                    const struct image_add_options *opts, char **ret_digest, struct berth_error *err)
{
    return image_store_add_ex(is, manifest_digest, ref, opts, ret_digest, NULL, err);
}

int image_store_add_ex(struct image_store *is, const char *manifest_digest, const char *ref,
                       const struct image_add_options *opts, char **ret_digest, bool *ret_fresh,
                       struct berth_error *err)
{
    if (!digest_is_valid(manifest_digest))
        return berth_error_set(err, -EINVAL, "'%s' is not a sha256 digest", manifest_digest ? manifest_digest : "");
    _cleanup_free_ char *tagged = NULL;
    if (ref) {
        _cleanup_image_ref_ struct image_ref *parsed = NULL;
        int r = image_ref_parse(ref, &parsed, err);
        if (r < 0)
            return r;
        tagged = image_ref_tagged(parsed);
        if (!tagged && !parsed->digest)
            return berth_error_set(err, -ENOMEM, "out of memory");
    }
    int r = image_store_lock_shared(is, err);
    if (r < 0)
        return r;
    r = add_locked(is, manifest_digest, tagged, opts, ret_digest, ret_fresh, err);
    image_store_unlock(is);
    return r;
}

static int unpack_one(struct image_store *is, const struct image_layer *l, unsigned item, unsigned items,
                      uint64_t *bytes_done, const struct image_add_options *opts, struct berth_error *err)
{
    _cleanup_free_ char *final = image_layer_path(is, l->diff_id);
    if (!final)
        return berth_error_set(err, -EINVAL, "layer %s: invalid diff_id", l->digest);
    _cleanup_close_ int in = -1;
    int r = blobstore_open_blob(is->blobs, l->digest, &in, NULL, err);
    if (r < 0)
        return berth_error_prefix(err, r, "layer %s: ", l->digest);
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s/unpack-XXXXXX", is->staging_dir) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (!mkdtemp(tmp))
        return berth_error_errno(err, -errno, "%s: cannot create an unpack directory", is->staging_dir);
    _cleanup_close_ int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        r = berth_error_errno(err, -errno, "%s", tmp);
        fs_rm_rf(tmp);
        return r;
    }
    (void) fchmod(dfd, 0755);
    char what[96];
    snprintf(what, sizeof(what), "layer %.19s", l->digest);
    struct layer_unpack_options uo = {
        .allow_devices = -1, .progress = opts ? opts->progress : NULL, .item = item, .items = items,
        .bytes_done = bytes_done, .max_bytes = opts ? opts->max_layer_bytes : 0,
        .max_entries = opts ? opts->max_layer_entries : 0,
    };
    struct layer_unpack_result res;
    r = layer_unpack(in, dfd, what, &uo, &res, err);
    if (r == 0 && strcmp(res.diff_id, l->diff_id) != 0)
        r = berth_error_set(err, -EBADMSG, "layer %s: content does not match the image config: diff_id should be %s, "
                            "the uncompressed layer hashes to %s", l->digest, l->diff_id, res.diff_id);
    if (r < 0) {
        fs_rm_rf(tmp);
        return r;
    }
    if (rename(tmp, final) < 0) {
        r = -errno;
        fs_rm_rf(tmp);
        /* Another berth finished the same layer first: theirs is as good as ours. */
        if (r != -EEXIST && r != -ENOTEMPTY)
            return berth_error_errno(err, r, "layer %s: publishing %s", l->digest, final);
    }
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(is->db, "INSERT OR REPLACE INTO layers (diff_id, size, unpacked) VALUES (?, ?, strftime('%s','now'))",
                      &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, l->diff_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64) res.bytes);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        r = berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(is->db)));
    return r < 0 ? r : 0;
}

int image_unpack(struct image_store *is, const struct image *img, const struct image_add_options *opts,
                 struct berth_error *err)
{
    int r = image_store_lock_shared(is, err);
    if (r < 0)
        return r;
    uint64_t bytes = 0;
    for (size_t i = 0; i < img->n_layers && r >= 0; i++) {
        if (image_store_layer_unpacked(is, img->layers[i].diff_id) == 1)
            continue;
        r = unpack_one(is, &img->layers[i], (unsigned) i + 1, (unsigned) img->n_layers, &bytes, opts, err);
    }
    image_store_unlock(is);
    return r;
}

int image_layer_dirs(struct image_store *is, const struct image *img, char ***ret_dirs, struct berth_error *err)
{
    int r = image_unpack(is, img, NULL, err);
    if (r < 0)
        return r;
    _cleanup_strv_ char **dirs = calloc(1, sizeof(char *));
    if (!dirs)
        return berth_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < img->n_layers; i++) {
        _cleanup_free_ char *p = image_layer_path(is, img->layers[i].diff_id);
        if (!p || strv_push(&dirs, p) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
    }
    *ret_dirs = TAKE_PTR(dirs);
    return 0;
}
