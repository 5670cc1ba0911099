#include "registry/storage.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "store/store.h"

struct registry_storage {
    char *root;
    struct store *db;
    struct blobstore *bs;
    pthread_mutex_t lock;
};

static const char schema_v1[] =
    "CREATE TABLE registry_blobs (repo TEXT NOT NULL, digest TEXT NOT NULL, created INTEGER NOT NULL,"
    "  PRIMARY KEY (repo, digest));"
    "CREATE INDEX registry_blobs_digest ON registry_blobs (digest);"
    "CREATE TABLE registry_manifests (repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL,"
    "  size INTEGER NOT NULL, subject TEXT, artifact_type TEXT, annotations TEXT, created INTEGER NOT NULL,"
    "  PRIMARY KEY (repo, digest));"
    "CREATE INDEX registry_manifests_subject ON registry_manifests (repo, subject);"
    "CREATE TABLE registry_manifest_refs (repo TEXT NOT NULL, manifest TEXT NOT NULL, digest TEXT NOT NULL,"
    "  PRIMARY KEY (repo, manifest, digest));"
    "CREATE INDEX registry_manifest_refs_digest ON registry_manifest_refs (digest);"
    "CREATE TABLE registry_tags (repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,"
    "  PRIMARY KEY (repo, tag));"
    "CREATE TABLE registry_owned (digest TEXT PRIMARY KEY);";

/* v2: upload sessions outlive the server process (their data is the staging file). */
static const char schema_v2[] =
    "CREATE TABLE registry_uploads (id TEXT PRIMARY KEY, repo TEXT NOT NULL, started INTEGER NOT NULL);";

int registry_storage_open(const char *root, struct registry_storage **ret, struct berth_error *err)
{
    struct registry_storage *s = calloc(1, sizeof(*s));
    if (!s)
        return berth_error_set(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    s->root = strdup(root);
    if (!s->root) {
        free(s);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    int r = blobstore_open(root, &s->bs, err);
    if (r == 0)
        r = store_open(root, &s->db, err);
    static const char *const migrations[] = { schema_v1, schema_v2 };
    if (r == 0)
        r = store_ensure_migrations(s->db, "registry", migrations, 2, err);
    if (r < 0) {
        registry_storage_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

void registry_storage_free(struct registry_storage *s)
{
    if (!s)
        return;
    if (s->db)
        store_close(s->db);
    blobstore_free(s->bs);
    pthread_mutex_destroy(&s->lock);
    free(s->root);
    free(s);
}

struct blobstore *registry_storage_blobs(struct registry_storage *s)
{
    return s->bs;
}

static void unlockp(pthread_mutex_t **m)
{
    if (*m)
        pthread_mutex_unlock(*m);
}
#define LOCKED(s) _cleanup_(unlockp) _owner_ pthread_mutex_t *_held = (pthread_mutex_lock(&(s)->lock), &(s)->lock)

static int prep(struct registry_storage *s, const char *sql, sqlite3_stmt **st, struct berth_error *err)
{
    return store_prepare(s->db, sql, st, err);
}

static int bind_texts(sqlite3_stmt *st, int n, const char **v)
{
    for (int i = 0; i < n; i++) {
        int rc = v[i] ? sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i + 1);
        if (rc != SQLITE_OK)
            return store_errno(rc);
    }
    return 0;
}

/* Runs a statement with text parameters; returns the number of changed rows or -errno. */
static int exec_texts(struct registry_storage *s, const char *sql, int n, const char **v, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prep(s, sql, &st, err);
    if (r < 0)
        return r;
    if ((r = bind_texts(st, n, v)) < 0)
        return berth_error_errno(err, r, "registry database");
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return berth_error_set(err, store_errno(rc), "registry database: %s", sqlite3_errmsg(store_db(s->db)));
    return sqlite3_changes(store_db(s->db));
}

/* 1 when the query with text parameters returns a row, 0 when not. */
static int exists_texts(struct registry_storage *s, const char *sql, int n, const char **v)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prep(s, sql, &st, NULL);
    if (r < 0)
        return r;
    if ((r = bind_texts(st, n, v)) < 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : store_errno(rc);
}

static int link_locked(struct registry_storage *s, const char *repo, const char *digest, bool owned,
                       struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prep(s, "INSERT INTO registry_blobs (repo, digest, created) VALUES (?1, ?2, ?3)"
                    " ON CONFLICT (repo, digest) DO UPDATE SET created = excluded.created", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, repo, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, digest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, (sqlite3_int64) time(NULL));
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return berth_error_set(err, store_errno(rc), "registry database: %s", sqlite3_errmsg(store_db(s->db)));
    if (owned) {
        const char *v[] = { digest };
        r = exec_texts(s, "INSERT OR IGNORE INTO registry_owned (digest) VALUES (?1)", 1, v, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int registry_blob_linked(struct registry_storage *s, const char *repo, const char *digest, uint64_t *ret_size)
{
    int r;
    {
        LOCKED(s);
        const char *v[] = { repo, digest };
        r = exists_texts(s, "SELECT 1 FROM registry_blobs WHERE repo = ?1 AND digest = ?2", 2, v);
    }
    if (r <= 0)
        return r;
    return blobstore_has(s->bs, digest, ret_size);
}

int registry_blob_link(struct registry_storage *s, const char *repo, const char *digest, bool owned,
                       struct berth_error *err)
{
    LOCKED(s);
    return link_locked(s, repo, digest, owned, err);
}

int registry_blob_unlink(struct registry_storage *s, const char *repo, const char *digest, struct berth_error *err)
{
    LOCKED(s);
    const char *v[] = { repo, digest };
    int r = exec_texts(s, "DELETE FROM registry_blobs WHERE repo = ?1 AND digest = ?2", 2, v, err);
    if (r < 0)
        return r;
    return r == 0 ? -ENOENT : 0;
}

int registry_blob_mount(struct registry_storage *s, const char *repo, const char *from, const char *digest,
                        struct berth_error *err)
{
    LOCKED(s);
    /* In one transaction with the check, so a concurrent gc cannot remove the blob in between. */
    int r = store_begin(s->db, err);
    if (r < 0)
        return r;
    const char *v[] = { from, digest };
    r = exists_texts(s, "SELECT 1 FROM registry_blobs WHERE repo = ?1 AND digest = ?2", 2, v);
    if (r > 0 && blobstore_has(s->bs, digest, NULL) <= 0)
        r = 0;
    if (r > 0) {
        int q = link_locked(s, repo, digest, false, err);
        if (q < 0)
            r = q;
    }
    if (r < 0) {
        store_rollback(s->db);
        return r;
    }
    int q = store_commit(s->db, err);
    return q < 0 ? q : r;
}

int registry_manifest_put(struct registry_storage *s, const char *repo, const char *tag, const char *digest,
                          uint64_t size, const struct registry_manifest *m, bool owned, struct berth_error *err)
{
    LOCKED(s);
    int r = store_begin(s->db, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < m->n_refs; i++) {
        const char *v[] = { repo, m->refs[i].digest };
        r = exists_texts(s, "SELECT 1 FROM registry_blobs WHERE repo = ?1 AND digest = ?2", 2, v);
        if (r == 0 || (r > 0 && blobstore_has(s->bs, m->refs[i].digest, NULL) <= 0)) {
            r = berth_error_set(err, -ENOENT, "%s %s is not in repository %s",
                                m->refs[i].kind == MREF_MANIFEST ? "manifest" : "blob", m->refs[i].digest, repo);
        }
        if (r < 0)
            goto fail;
    }
    {
        _cleanup_free_ char *ann = m->annotations ? json_dumps(m->annotations, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = prep(s, "INSERT OR REPLACE INTO registry_manifests (repo, digest, media_type, size, subject,"
                    " artifact_type, annotations, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st, err);
        if (r < 0)
            goto fail;
        sqlite3_bind_text(st, 1, repo, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, digest, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, m->media_type, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, (sqlite3_int64) size);
        if (m->subject[0])
            sqlite3_bind_text(st, 5, m->subject, -1, SQLITE_TRANSIENT);
        if (m->artifact_type)
            sqlite3_bind_text(st, 6, m->artifact_type, -1, SQLITE_TRANSIENT);
        if (ann)
            sqlite3_bind_text(st, 7, ann, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 8, (sqlite3_int64) time(NULL));
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
            r = berth_error_set(err, store_errno(rc), "registry database: %s", sqlite3_errmsg(store_db(s->db)));
            goto fail;
        }
    }
    for (size_t i = 0; i < m->n_refs; i++) {
        const char *v[] = { repo, digest, m->refs[i].digest };
        r = exec_texts(s, "INSERT OR IGNORE INTO registry_manifest_refs (repo, manifest, digest) VALUES (?1, ?2, ?3)",
                       3, v, err);
        if (r < 0)
            goto fail;
    }
    if ((r = link_locked(s, repo, digest, owned, err)) < 0)
        goto fail;
    if (tag) {
        const char *v[] = { repo, tag, digest };
        r = exec_texts(s, "INSERT OR REPLACE INTO registry_tags (repo, tag, digest) VALUES (?1, ?2, ?3)", 3, v, err);
        if (r < 0)
            goto fail;
    }
    return store_commit(s->db, err);
fail:
    store_rollback(s->db);
    return r;
}

int registry_manifest_resolve(struct registry_storage *s, const char *repo, const char *ref, char ret_digest[72],
                              char **ret_media_type, uint64_t *ret_size)
{
    LOCKED(s);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    const char *sql = digest_is_valid(ref)
        ? "SELECT digest, media_type, size FROM registry_manifests WHERE repo = ?1 AND digest = ?2"
        : "SELECT m.digest, m.media_type, m.size FROM registry_tags t JOIN registry_manifests m"
          " ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ?1 AND t.tag = ?2";
    int r = prep(s, sql, &st, NULL);
    if (r < 0)
        return r;
    const char *v[] = { repo, ref };
    if ((r = bind_texts(st, 2, v)) < 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return store_errno(rc);
    const char *d = (const char *) sqlite3_column_text(st, 0);
    const char *mt = (const char *) sqlite3_column_text(st, 1);
    if (!d || !mt || strlen(d) != 71)
        return -EIO;
    char *mtd = strdup(mt);
    if (!mtd)
        return -ENOMEM;
    memcpy(ret_digest, d, 72);
    *ret_media_type = mtd;
    *ret_size = (uint64_t) sqlite3_column_int64(st, 2);
    return 1;
}

int registry_manifest_delete(struct registry_storage *s, const char *repo, const char *ref, struct berth_error *err)
{
    LOCKED(s);
    const char *v[] = { repo, ref };
    if (!digest_is_valid(ref)) {
        int r = exec_texts(s, "DELETE FROM registry_tags WHERE repo = ?1 AND tag = ?2", 2, v, err);
        return r < 0 ? r : (r == 0 ? -ENOENT : 0);
    }
    int r = store_begin(s->db, err);
    if (r < 0)
        return r;
    r = exec_texts(s, "DELETE FROM registry_manifests WHERE repo = ?1 AND digest = ?2", 2, v, err);
    if (r == 0)
        r = -ENOENT;
    if (r > 0)
        r = exec_texts(s, "DELETE FROM registry_tags WHERE repo = ?1 AND digest = ?2", 2, v, err);
    if (r >= 0)
        r = exec_texts(s, "DELETE FROM registry_manifest_refs WHERE repo = ?1 AND manifest = ?2", 2, v, err);
    if (r >= 0)
        r = exec_texts(s, "DELETE FROM registry_blobs WHERE repo = ?1 AND digest = ?2", 2, v, err);
    if (r < 0) {
        store_rollback(s->db);
        return r;
    }
    return store_commit(s->db, err);
}

/* Collects column 0 of a query over (param1, last) into an array of at most n strings. */
static int list_page(struct registry_storage *s, const char *sql, const char *param, const char *last, uint64_t n,
                     json_t **ret, bool *ret_more)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prep(s, sql, &st, NULL);
    if (r < 0)
        return r;
    const char *v[] = { param, last ? last : "" };
    if ((r = bind_texts(st, 2, v)) < 0)
        return r;
    _cleanup_json_ json_t *a = json_array();
    if (!a)
        return -ENOMEM;
    bool more = false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n && json_array_size(a) >= n) {
            more = true;
            break;
        }
        const char *t = (const char *) sqlite3_column_text(st, 0);
        if (t && json_array_append_new(a, json_string(t)) < 0)
            return -ENOMEM;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_errno(rc);
    *ret_more = more;
    *ret = TAKE_PTR(a);
    return 0;
}

int registry_tags_list(struct registry_storage *s, const char *repo, const char *last, uint64_t n, json_t **ret,
                       bool *ret_more)
{
    LOCKED(s);
    const char *v[] = { repo };
    int r = exists_texts(s, "SELECT 1 FROM registry_blobs WHERE repo = ?1 LIMIT 1", 1, v);
    if (r <= 0)
        return r < 0 ? r : -ENOENT;
    return list_page(s, "SELECT tag FROM registry_tags WHERE repo = ?1 AND tag > ?2 ORDER BY tag", repo, last, n, ret,
                     ret_more);
}

int registry_catalog(struct registry_storage *s, const char *last, uint64_t n, json_t **ret, bool *ret_more)
{
    LOCKED(s);
    return list_page(s, "SELECT DISTINCT repo FROM registry_manifests WHERE ?1 IS NOT NULL AND repo > ?2 ORDER BY repo",
                     "", last, n, ret, ret_more);
}

int registry_referrers(struct registry_storage *s, const char *repo, const char *digest, const char *artifact_type,
                       json_t **ret)
{
    LOCKED(s);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prep(s, "SELECT digest, media_type, size, artifact_type, annotations FROM registry_manifests"
                    " WHERE repo = ?1 AND subject = ?2 AND (?3 IS NULL OR artifact_type = ?3) ORDER BY digest",
                 &st, NULL);
    if (r < 0)
        return r;
    const char *v[] = { repo, digest, artifact_type };
    if ((r = bind_texts(st, 3, v)) < 0)
        return r;
    _cleanup_json_ json_t *a = json_array();
    if (!a)
        return -ENOMEM;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *d = json_pack("{s:s, s:s, s:I}", "mediaType", (const char *) sqlite3_column_text(st, 1), "digest",
                              (const char *) sqlite3_column_text(st, 0), "size",
                              (json_int_t) sqlite3_column_int64(st, 2));
        if (!d)
            return -ENOMEM;
        const char *at = (const char *) sqlite3_column_text(st, 3);
        if (at)
            json_object_set_new(d, "artifactType", json_string(at));
        const char *ann = (const char *) sqlite3_column_text(st, 4);
        if (ann) {
            json_t *av = json_loads(ann, 0, NULL);
            if (av)
                json_object_set_new(d, "annotations", av);
        }
        json_array_append_new(a, d);
    }
    if (rc != SQLITE_DONE)
        return store_errno(rc);
    *ret = TAKE_PTR(a);
    return 0;
}

/* Whether any manifest references digest or is digest itself. */
static int referenced_locked(struct registry_storage *s, const char *digest)
{
    const char *v[] = { digest };
    int r = exists_texts(s, "SELECT 1 FROM registry_manifests WHERE digest = ?1 LIMIT 1", 1, v);
    if (r == 0)
        r = exists_texts(s, "SELECT 1 FROM registry_manifest_refs WHERE digest = ?1 LIMIT 1", 1, v);
    return r;
}

int registry_store_references(struct store *db, const char *digest)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    if (store_prepare(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'registry_blobs'", &st, NULL) < 0)
        return 0;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? 0 : store_errno(rc);
    sqlite3_finalize(TAKE_PTR(st));
    if (store_prepare(db, "SELECT 1 FROM registry_blobs WHERE digest = ?1 UNION ALL"
                          " SELECT 1 FROM registry_manifest_refs WHERE digest = ?1 LIMIT 1", &st, NULL) < 0)
        return -EIO;
    sqlite3_bind_text(st, 1, digest, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : store_errno(rc);
}

struct gc_veto {
    int (*in_use)(const char *digest, void *userdata);
    void *userdata;
};

static int gc_one(struct registry_storage *s, const char *digest, bool owned, time_t cutoff, bool dry_run,
                  const struct gc_veto *veto, struct registry_gc_stats *st, struct berth_error *err)
{
    LOCKED(s);
    /* declared before the first goto: a jump must not skip a cleanup variable's initialisation */
    uint64_t size = 0;
    _cleanup_free_ char *path = NULL;
    bool remove_file = false;
    int r = store_begin(s->db, err);
    if (r < 0)
        return r;
    r = referenced_locked(s, digest);
    if (r != 0)
        goto out;   /* referenced (or error): keep */
    /* A link touched after the cutoff belongs to a push in flight. */
    {
        _cleanup_stmt_ sqlite3_stmt *q = NULL;
        if ((r = prep(s, "SELECT 1 FROM registry_blobs WHERE digest = ?1 AND created > ?2 LIMIT 1", &q, err)) < 0)
            goto out;
        sqlite3_bind_text(q, 1, digest, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, (sqlite3_int64) cutoff);
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW)
            goto out;
        if (rc != SQLITE_DONE) {
            r = store_errno(rc);
            goto out;
        }
    }
    if (owned && veto->in_use && veto->in_use(digest, veto->userdata) != 0)
        owned = false;   /* someone else uses the content: drop our links, keep the file */
    if (owned && blobstore_path(s->bs, digest, &path, NULL) == 0) {
        struct stat sb;
        /* A file published after the cutoff may be an upload whose link is not written yet. */
        if (stat(path, &sb) == 0) {
            if (sb.st_mtime > cutoff)
                goto out;
            remove_file = true;
            size = (uint64_t) sb.st_size;
        } else if (errno != ENOENT) {
            goto out;
        }
    }
    const char *v[] = { digest };
    if (!dry_run) {
        r = exec_texts(s, "DELETE FROM registry_blobs WHERE digest = ?1", 1, v, err);
        if (r < 0)
            goto out;
        st->links_removed += (uint64_t) r;
        if (owned) {
            if ((r = exec_texts(s, "DELETE FROM registry_owned WHERE digest = ?1", 1, v, err)) < 0)
                goto out;
        }
        if (remove_file && unlink(path) < 0 && errno != ENOENT) {
            r = berth_error_errno(err, -errno, "removing blob %s", digest);
            goto out;
        }
    }
    if (remove_file) {
        st->blobs_removed++;
        st->bytes_removed += size;
    }
    r = 0;
out:
    if (r < 0) {
        store_rollback(s->db);
        return r;
    }
    return store_commit(s->db, err);
}

static int collect(struct registry_storage *s, const char *sql, char ***ret, size_t *ret_n)
{
    LOCKED(s);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prep(s, sql, &st, NULL);
    if (r < 0)
        return r;
    char **v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *d = (const char *) sqlite3_column_text(st, 0);
        if (ARRAY_RESERVE(v, cap, n + 1, 16) < 0 || !d || !(v[n] = strdup(d))) {
            for (size_t i = 0; i < n; i++)
                free(v[i]);
            free(v);
            return -ENOMEM;
        }
        n++;
    }
    *ret = v;
    *ret_n = n;
    return rc == SQLITE_DONE ? 0 : store_errno(rc);
}

int registry_gc(struct registry_storage *s, int64_t grace_seconds, bool dry_run, struct registry_gc_stats *ret,
                struct berth_error *err)
{
    return registry_gc_with(s, grace_seconds, dry_run, NULL, NULL, ret, err);
}

/* ---- upload sessions ---- */

void registry_upload_file_name(const char *id, char out[REGISTRY_UPLOAD_NAME_MAX])
{
    snprintf(out, REGISTRY_UPLOAD_NAME_MAX, "%s%s", REGISTRY_UPLOAD_PREFIX, id);
}

int registry_upload_record(struct registry_storage *s, const char *id, const char *repo, struct berth_error *err)
{
    LOCKED(s);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prep(s, "INSERT INTO registry_uploads (id, repo, started) VALUES (?1, ?2, ?3)", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, repo, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, (sqlite3_int64) time(NULL));
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return berth_error_set(err, store_errno(rc), "registry database: %s", sqlite3_errmsg(store_db(s->db)));
    return 0;
}

int registry_upload_lookup(struct registry_storage *s, const char *id, const char *repo)
{
    LOCKED(s);
    const char *v[] = { id, repo };
    return exists_texts(s, "SELECT 1 FROM registry_uploads WHERE id = ?1 AND repo = ?2", 2, v);
}

int registry_upload_forget(struct registry_storage *s, const char *id)
{
    LOCKED(s);
    const char *v[] = { id };
    int r = exec_texts(s, "DELETE FROM registry_uploads WHERE id = ?1", 1, v, NULL);
    return r < 0 ? r : 0;
}

int registry_uploads_expire(struct registry_storage *s, time_t cutoff, bool dry_run, uint64_t *ret_count,
                            uint64_t *ret_bytes)
{
    char **ids = NULL;
    size_t n = 0;
    int r = collect(s, "SELECT id FROM registry_uploads", &ids, &n);
    for (size_t i = 0; r == 0 && i < n; i++) {
        char name[REGISTRY_UPLOAD_NAME_MAX];
        registry_upload_file_name(ids[i], name);
        uint64_t size = 0;
        time_t mtime = 0;
        int q = blobstore_staging_stat(s->bs, name, &size, &mtime);
        if (q > 0 && mtime > cutoff)
            continue;   /* alive */
        if (dry_run || ((q <= 0 || blobstore_staging_remove(s->bs, name) == 0) &&
                        registry_upload_forget(s, ids[i]) == 0)) {
            if (q > 0 && ret_count)
                (*ret_count)++;
            if (q > 0 && ret_bytes)
                *ret_bytes += size;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return r;
}

/* Staging files of uploads abandoned long ago (a server restarted mid-session, a killed
 * client): every live writer touches its file as data arrives, and the server drops sessions
 * idle for an hour, so a file untouched for longer is garbage. */
static void sweep_staging(struct registry_storage *s, time_t cutoff, bool dry_run, struct registry_gc_stats *st)
{
    _cleanup_free_ char *dir = fs_path_join(s->root, "blobs/.staging");
    _cleanup_closedir_ DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat sb;
        if ((strncmp(de->d_name, "upload-", 7) && strncmp(de->d_name, REGISTRY_UPLOAD_PREFIX,
                                                          strlen(REGISTRY_UPLOAD_PREFIX))) ||
            fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(sb.st_mode) || sb.st_mtime > cutoff)
            continue;
        if (dry_run || unlinkat(dirfd(d), de->d_name, 0) == 0) {
            st->staging_removed++;
            st->bytes_removed += (uint64_t) sb.st_size;
        }
    }
}

int registry_gc_with(struct registry_storage *s, int64_t grace_seconds, bool dry_run,
                     int (*in_use)(const char *digest, void *userdata), void *userdata,
                     struct registry_gc_stats *ret, struct berth_error *err)
{
    const struct gc_veto veto = { in_use, userdata };
    struct registry_gc_stats st = { 0 };
    time_t cutoff = time(NULL) - (time_t) grace_seconds;
    char **owned = NULL, **linked = NULL;
    size_t n_owned = 0, n_linked = 0;
    int r = collect(s, "SELECT digest FROM registry_owned", &owned, &n_owned);
    if (r == 0)
        r = collect(s, "SELECT DISTINCT digest FROM registry_blobs WHERE digest NOT IN"
                       " (SELECT digest FROM registry_owned)", &linked, &n_linked);
    for (size_t i = 0; r == 0 && i < n_owned; i++)
        r = gc_one(s, owned[i], true, cutoff, dry_run, &veto, &st, err);
    for (size_t i = 0; r == 0 && i < n_linked; i++)
        r = gc_one(s, linked[i], false, cutoff, dry_run, &veto, &st, err);
    for (size_t i = 0; i < n_owned; i++)
        free(owned[i]);
    for (size_t i = 0; i < n_linked; i++)
        free(linked[i]);
    free(owned);
    free(linked);
    if (r < 0)
        return berth_error_prefix(err, r, "registry gc");
    /* Upload sessions first (file and record together), then staging files nothing records. */
    time_t staging_cutoff = time(NULL) - (time_t) (grace_seconds > 3600 ? grace_seconds : 3600);
    registry_uploads_expire(s, staging_cutoff, dry_run, &st.staging_removed, &st.bytes_removed);
    sweep_staging(s, staging_cutoff, dry_run, &st);
    *ret = st;
    return 0;
}
