#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "image/image-internal.h"
#include "image/manifest.h"
#include "image/reference.h"

#define IMAGE_SCHEMA_VERSION 1

/* Reference counts are derived from these rows (see image.h). ON DELETE CASCADE makes removing
 * an image one DELETE. */
static const char image_schema[] =
    "CREATE TABLE images ("
    "  digest TEXT PRIMARY KEY,"        /* manifest digest */
    "  config_digest TEXT NOT NULL,"
    "  media_type TEXT NOT NULL,"
    "  index_digest TEXT,"              /* the index it was chosen from, if any */
    "  size INTEGER NOT NULL,"
    "  created TEXT,"
    "  os TEXT, architecture TEXT,"
    "  added INTEGER NOT NULL);"
    "CREATE INDEX images_config ON images(config_digest);"
    "CREATE TABLE image_tags ("
    "  name TEXT PRIMARY KEY,"          /* docker.io/library/busybox:latest */
    "  image TEXT NOT NULL REFERENCES images(digest) ON DELETE CASCADE);"
    "CREATE INDEX image_tags_image ON image_tags(image);"
    "CREATE TABLE image_blobs ("
    "  image TEXT NOT NULL REFERENCES images(digest) ON DELETE CASCADE,"
    "  blob TEXT NOT NULL,"
    "  PRIMARY KEY (image, blob));"
    "CREATE INDEX image_blobs_blob ON image_blobs(blob);"
    "CREATE TABLE image_layers ("
    "  image TEXT NOT NULL REFERENCES images(digest) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  diff_id TEXT NOT NULL,"
    "  blob TEXT NOT NULL,"
    "  media_type TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  PRIMARY KEY (image, idx));"
    "CREATE INDEX image_layers_diff ON image_layers(diff_id);"
    "CREATE TABLE layers ("               /* unpacked in layers/<hex> */
    "  diff_id TEXT PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  unpacked INTEGER NOT NULL);"
    "CREATE TABLE image_holds ("
    "  image TEXT NOT NULL REFERENCES images(digest) ON DELETE CASCADE,"
    "  holder TEXT NOT NULL,"
    "  PRIMARY KEY (image, holder));";

int image_store_open(const char *root, struct image_store **ret, struct berth_error *err)
{
    if (!root)
        root = berth_root_dir();
    struct image_store *is = calloc(1, sizeof(*is));
    _cleanup_(image_store_freep) struct image_store *owned = is;
    if (!is)
        return berth_error_set(err, -ENOMEM, "out of memory");
    is->lock_fd = -1;
    is->root = strdup(root);
    is->layers_dir = fs_path_join(root, "layers");
    is->staging_dir = fs_path_join(root, "layers/.staging");
    if (!is->root || !is->layers_dir || !is->staging_dir)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = blobstore_open(root, &is->blobs, err);
    if (r < 0)
        return r;
    r = fs_mkdir_p(is->staging_dir, 0700);
    if (r < 0)
        return berth_error_errno(err, r, "%s: cannot create the layer store", is->layers_dir);
    /* Layers are lower dirs of containers' overlays: readable by the users containers run as. */
    (void) chmod(is->layers_dir, 0755);
    r = store_open(root, &is->db, err);
    if (r < 0)
        return r;
    r = store_ensure_schema(is->db, "image", IMAGE_SCHEMA_VERSION, image_schema, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *lock = fs_path_join(root, "images.lock");
    if (!lock)
        return berth_error_set(err, -ENOMEM, "out of memory");
    is->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (is->lock_fd < 0)
        return berth_error_errno(err, -errno, "%s", lock);
    *ret = TAKE_PTR(owned);
    return 0;
}

void image_store_free(struct image_store *is)
{
    if (!is)
        return;
    if (is->lock_fd >= 0)
        close(is->lock_fd);
    store_close(is->db);
    blobstore_free(is->blobs);
    free(is->root);
    free(is->layers_dir);
    free(is->staging_dir);
    free(is);
}

struct blobstore *image_store_blobs(struct image_store *is)
{
    return is->blobs;
}

struct store *image_store_db(struct image_store *is)
{
    return is->db;
}

const char *image_store_root(struct image_store *is)
{
    return is->root;
}

static int lock_as(struct image_store *is, int mode, struct berth_error *err)
{
    /* Nested locking (add calls unpack): an inner request is satisfied by an equal or stronger
     * outer lock, so the inner unlock does not drop the outer one. */
    if (is->lock_depth > 0 && (is->lock_mode == LOCK_EX || mode == LOCK_SH)) {
        is->lock_depth++;
        return 0;
    }
    if (is->lock_depth > 0)
        return berth_error_set(err, -EDEADLK, "image store: cannot upgrade a shared lock");
    while (flock(is->lock_fd, mode) < 0) {
        if (errno != EINTR)
            return berth_error_errno(err, -errno, "%s/images.lock", is->root);
    }
    is->lock_mode = mode;
    is->lock_depth = 1;
    return 0;
}

int image_store_lock_shared(struct image_store *is, struct berth_error *err)
{
    return lock_as(is, LOCK_SH, err);
}

int image_store_lock_exclusive(struct image_store *is, struct berth_error *err)
{
    return lock_as(is, LOCK_EX, err);
}

void image_store_unlock(struct image_store *is)
{
    if (is->lock_depth <= 0)
        return;
    if (--is->lock_depth == 0)
        flock(is->lock_fd, LOCK_UN);
}

char *image_layer_path(struct image_store *is, const char *diff_id)
{
    if (!digest_is_valid(diff_id))
        return NULL;
    return fs_path_join(is->layers_dir, diff_id + 7);
}

int image_db_exec1(struct image_store *is, const char *sql, const char *a, const char *b, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(is->db, sql, &st, err);
    if (r < 0)
        return r;
    if (a)
        sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(is->db)));
    return sqlite3_changes(store_db(is->db));
}

void image_free(struct image *img)
{
    if (!img)
        return;
    free(img->digest);
    free(img->config_digest);
    free(img->media_type);
    strv_free(img->names);
    for (size_t i = 0; i < img->n_layers; i++) {
        free(img->layers[i].diff_id);
        free(img->layers[i].digest);
        free(img->layers[i].media_type);
    }
    free(img->layers);
    free(img->created);
    free(img->os);
    free(img->architecture);
    free(img);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? strdup((const char *) s) : NULL;
}

int image_load(struct image_store *is, const char *digest, struct image **ret, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(is->db,
                          "SELECT digest, config_digest, media_type, size, created, os, architecture, added,"
                          " (SELECT count(*) FROM image_holds h WHERE h.image = images.digest)"
                          " FROM images WHERE digest = ?", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, digest, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return berth_error_set(err, -ENOENT, "image %s not found", digest);
    if (rc != SQLITE_ROW)
        return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(is->db)));
    _cleanup_(image_freep) struct image *img = calloc(1, sizeof(*img));
    if (!img)
        return berth_error_set(err, -ENOMEM, "out of memory");
    img->digest = col_dup(st, 0);
    img->config_digest = col_dup(st, 1);
    img->media_type = col_dup(st, 2);
    img->size = (uint64_t) sqlite3_column_int64(st, 3);
    img->created = col_dup(st, 4);
    img->os = col_dup(st, 5);
    img->architecture = col_dup(st, 6);
    img->added = sqlite3_column_int64(st, 7);
    img->n_holds = (size_t) sqlite3_column_int64(st, 8);
    if (!img->digest || !img->config_digest || !img->media_type)
        return berth_error_set(err, -ENOMEM, "out of memory");

    _cleanup_stmt_ sqlite3_stmt *tags = NULL;
    r = store_prepare(is->db, "SELECT name FROM image_tags WHERE image = ? ORDER BY name", &tags, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(tags, 1, digest, -1, SQLITE_TRANSIENT);
    img->names = calloc(1, sizeof(char *));
    if (!img->names)
        return berth_error_set(err, -ENOMEM, "out of memory");
    while ((rc = sqlite3_step(tags)) == SQLITE_ROW)
        if (strv_push(&img->names, (const char *) sqlite3_column_text(tags, 0)) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");

    _cleanup_stmt_ sqlite3_stmt *ls = NULL;
    r = store_prepare(is->db, "SELECT diff_id, blob, media_type, size FROM image_layers WHERE image = ? ORDER BY idx",
                      &ls, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(ls, 1, digest, -1, SQLITE_TRANSIENT);
    size_t cap = 0;
    while ((rc = sqlite3_step(ls)) == SQLITE_ROW) {
        if (ARRAY_RESERVE(img->layers, cap, img->n_layers + 1, 8) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
        struct image_layer *l = &img->layers[img->n_layers++];
        l->diff_id = col_dup(ls, 0);
        l->digest = col_dup(ls, 1);
        l->media_type = col_dup(ls, 2);
        l->size = (uint64_t) sqlite3_column_int64(ls, 3);
        if (!l->diff_id || !l->digest || !l->media_type)
            return berth_error_set(err, -ENOMEM, "out of memory");
    }
    *ret = TAKE_PTR(img);
    return 0;
}

static bool is_hex(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* Images whose manifest, config or index digest starts with prefix (sha256:<hex...>). */
static int lookup_by_id(struct image_store *is, const char *what, char **ret_digest, struct berth_error *err)
{
    const char *hex = !strncmp(what, "sha256:", 7) ? what + 7 : what;
    if (strlen(hex) < 4 || strlen(hex) > 64 || !is_hex(hex))
        return -ENOENT;
    _cleanup_free_ char *pattern = NULL;
    if (asprintf(&pattern, "sha256:%s*", hex) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(is->db,
                          "SELECT DISTINCT digest FROM images WHERE digest GLOB ?1 OR config_digest GLOB ?1"
                          " OR index_digest GLOB ?1 LIMIT 2", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, pattern, -1, SQLITE_TRANSIENT);
    _cleanup_free_ char *found = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (found)
            return berth_error_set(err, -EINVAL, "image id '%s' is ambiguous: give more digits", what);
        found = col_dup(st, 0);
        if (!found)
            return berth_error_set(err, -ENOMEM, "out of memory");
    }
    if (!found)
        return -ENOENT;
    *ret_digest = TAKE_PTR(found);
    return 0;
}

static int lookup_digest(struct image_store *is, const char *what, char **ret_digest, struct berth_error *err)
{
    /* A full or short id first when it can only be one (a 64-hex string or sha256:...). */
    bool id_form = !strncmp(what, "sha256:", 7) || (strlen(what) == 64 && is_hex(what));
    if (id_form)
        return lookup_by_id(is, what, ret_digest, err);

    struct berth_error perr = { 0 };
    _cleanup_image_ref_ struct image_ref *ref = NULL;
    int r = image_ref_parse(what, &ref, &perr);
    if (r == 0) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (ref->digest) {
            _cleanup_free_ char *name = image_ref_name(ref);
            if (!name)
                return berth_error_set(err, -ENOMEM, "out of memory");
            /* name@digest: the digest decides, as with docker. */
            r = store_prepare(is->db, "SELECT digest FROM images WHERE digest = ?1 OR index_digest = ?1", &st, err);
            if (r < 0)
                return r;
            sqlite3_bind_text(st, 1, ref->digest, -1, SQLITE_TRANSIENT);
        } else {
            _cleanup_free_ char *tagged = image_ref_tagged(ref);
            if (!tagged)
                return berth_error_set(err, -ENOMEM, "out of memory");
            r = store_prepare(is->db, "SELECT image FROM image_tags WHERE name = ?", &st, err);
            if (r < 0)
                return r;
            sqlite3_bind_text(st, 1, tagged, -1, SQLITE_TRANSIENT);
        }
        if (sqlite3_step(st) == SQLITE_ROW) {
            char *d = col_dup(st, 0);
            if (!d)
                return berth_error_set(err, -ENOMEM, "out of memory");
            *ret_digest = d;
            return 0;
        }
    }
    r = lookup_by_id(is, what, ret_digest, err);
    if (r != -ENOENT)
        return r;
    if (perr.code && !is_hex(what))
        return berth_error_set(err, perr.code, "%s", perr.msg);
    return berth_error_set(err, -ENOENT, "image '%s' not found", what);
}

int image_lookup(struct image_store *is, const char *what, struct image **ret, struct berth_error *err)
{
    if (!what || !*what)
        return berth_error_set(err, -EINVAL, "empty image name");
    _cleanup_free_ char *digest = NULL;
    int r = lookup_digest(is, what, &digest, err);
    if (r == -ENOENT)
        return berth_error_set(err, -ENOENT, "image '%s' not found", what);
    if (r < 0)
        return r;
    return image_load(is, digest, ret, err);
}

void image_list_free(struct image **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        image_free(list[i]);
    free(list);
}

int image_list(struct image_store *is, struct image ***ret, size_t *ret_n, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(is->db, "SELECT digest FROM images ORDER BY added DESC, digest", &st, err);
    if (r < 0)
        return r;
    struct image **list = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (ARRAY_RESERVE(list, cap, n + 1, 16) < 0) {
            image_list_free(list, n);
            return berth_error_set(err, -ENOMEM, "out of memory");
        }
        r = image_load(is, (const char *) sqlite3_column_text(st, 0), &list[n], err);
        if (r < 0) {
            image_list_free(list, n);
            return r;
        }
        n++;
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

int image_get_manifest(struct image_store *is, const struct image *img, char **ret_data, size_t *ret_len,
                       struct berth_error *err)
{
    return blobstore_read(is->blobs, img->digest, OCI_MANIFEST_MAX, ret_data, ret_len, err);
}

int image_get_config(struct image_store *is, const struct image *img, json_t **ret, struct berth_error *err)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = blobstore_read(is->blobs, img->config_digest, OCI_MANIFEST_MAX, &data, &len, err);
    if (r < 0)
        return berth_error_prefix(err, r, "image %.19s: config: ", img->digest);
    return json_load_buffer(data, len, img->config_digest, ret, err);
}

int image_tag(struct image_store *is, const char *what, const char *refstr, struct berth_error *err)
{
    _cleanup_image_ref_ struct image_ref *ref = NULL;
    int r = image_ref_parse(refstr, &ref, err);
    if (r < 0)
        return r;
    if (ref->digest)
        return berth_error_set(err, -EINVAL, "cannot tag with a digest reference '%s'", refstr);
    _cleanup_free_ char *tagged = image_ref_tagged(ref);
    if (!tagged)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_image_ struct image *img = NULL;
    r = image_lookup(is, what, &img, err);
    if (r < 0)
        return r;
    r = store_begin(is->db, err);
    if (r < 0)
        return r;
    r = image_db_exec1(is, "INSERT OR REPLACE INTO image_tags (name, image) VALUES (?, ?)", tagged, img->digest, err);
    if (r < 0) {
        store_rollback(is->db);
        return r;
    }
    return store_commit(is->db, err);
}

int image_untag(struct image_store *is, const char *refstr, struct berth_error *err)
{
    _cleanup_image_ref_ struct image_ref *ref = NULL;
    int r = image_ref_parse(refstr, &ref, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *tagged = image_ref_tagged(ref);
    if (!tagged)
        return berth_error_set(err, -EINVAL, "'%s' is not a tag", refstr);
    r = image_db_exec1(is, "DELETE FROM image_tags WHERE name = ?", tagged, NULL, err);
    if (r < 0)
        return r;
    return r == 0 ? berth_error_set(err, -ENOENT, "image '%s' not found", refstr) : 0;
}

/* The tag `what` names, when it names one of img's tags (so that rm drops just that tag). */
char *image_tag_named(const struct image *img, const char *what)
{
    _cleanup_image_ref_ struct image_ref *ref = NULL;
    if (image_ref_parse(what, &ref, NULL) < 0 || ref->digest)
        return NULL;
    /* A bare id prefix that happens to be a valid name is not a tag of this image. */
    _cleanup_free_ char *tagged = image_ref_tagged(ref);
    for (size_t i = 0; tagged && img->names[i]; i++)
        if (!strcmp(img->names[i], tagged))
            return TAKE_PTR(tagged);
    return NULL;
}

int image_remove(struct image_store *is, const char *what, bool force, int *ret_removed, struct berth_error *err)
{
    _cleanup_image_ struct image *img = NULL;
    int r = image_lookup(is, what, &img, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *tag = image_tag_named(img, what);
    r = store_begin(is->db, err);
    if (r < 0)
        return r;
    int removed = 0;
    if (tag && strv_length(img->names) > 1) {
        r = image_db_exec1(is, "DELETE FROM image_tags WHERE name = ?", tag, NULL, err);
    } else if (img->n_holds > 0 && !force) {
        store_rollback(is->db);
        return berth_error_set(err, -EBUSY, "image '%s' is in use by %zu container%s (use -f to untag it anyway)", what,
                               img->n_holds, img->n_holds == 1 ? "" : "s");
    } else if (img->n_holds > 0) {
        /* Forced: the users keep the image (their rootfs stack on its layers); it loses its
         * names and prune frees it once the last hold is released. */
        r = image_db_exec1(is, "DELETE FROM image_tags WHERE image = ?", img->digest, NULL, err);
    } else {
        r = image_db_exec1(is, "DELETE FROM images WHERE digest = ?", img->digest, NULL, err);
        removed = 1;
    }
    if (r < 0) {
        store_rollback(is->db);
        return r;
    }
    r = store_commit(is->db, err);
    if (r < 0)
        return r;
    if (ret_removed)
        *ret_removed = removed;
    return 0;
}

int image_store_hold(struct image_store *is, const char *image_digest, const char *holder, struct berth_error *err)
{
    int r = image_db_exec1(is, "INSERT OR IGNORE INTO image_holds (image, holder) SELECT digest, ?2 FROM images"
                               " WHERE digest = ?1", image_digest, holder, err);
    if (r < 0)
        return r;
    if (r == 0) {
        _cleanup_image_ struct image *img = NULL;
        return image_load(is, image_digest, &img, err); /* -ENOENT, or 0: the hold existed */
    }
    return 0;
}

int image_store_release(struct image_store *is, const char *image_digest, const char *holder, struct berth_error *err)
{
    int r = image_db_exec1(is, "DELETE FROM image_holds WHERE image = ? AND holder = ?", image_digest, holder, err);
    return r < 0 ? r : 0;
}

static int count_query(struct image_store *is, const char *sql, const char *arg, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(is->db, sql, &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW)
        return berth_error_set(err, -EIO, "state database: %s", sqlite3_errmsg(store_db(is->db)));
    return sqlite3_column_int(st, 0);
}

int image_store_blob_refs(struct image_store *is, const char *digest, struct berth_error *err)
{
    return count_query(is, "SELECT count(*) FROM image_blobs WHERE blob = ?", digest, err);
}

int image_store_layer_refs(struct image_store *is, const char *diff_id, struct berth_error *err)
{
    return count_query(is, "SELECT count(*) FROM image_layers WHERE diff_id = ?", diff_id, err);
}

int image_store_layer_unpacked(struct image_store *is, const char *diff_id)
{
    int r = count_query(is, "SELECT count(*) FROM layers WHERE diff_id = ?", diff_id, NULL);
    if (r <= 0)
        return r;
    _cleanup_free_ char *path = image_layer_path(is, diff_id);
    return path && fs_exists(path) ? 1 : 0;
}
