#include "store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"

struct store {
    sqlite3 *db;
};

const char *berth_root_dir(void)
{
    const char *r = getenv("BERTH_ROOT");
    return r && *r ? r : "/var/lib/berth";
}

const char *berth_runtime_dir(void)
{
    const char *r = getenv("BERTH_RUNTIME_DIR");
    return r && *r ? r : "/run/berth";
}

int store_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return -EACCES;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return -EBADMSG;
    default:
        return -EIO;
    }
}

int store_open(const char *root, struct store **ret, struct berth_error *err)
{
    int r = fs_mkdir_p(root, 0700);
    if (r < 0)
        return berth_error_errno(err, r, "%s: cannot create the state directory", root);
    _cleanup_free_ char *path = fs_path_join(root, "berth.db");
    if (!path)
        return berth_error_set(err, -ENOMEM, "out of memory");
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        r = berth_error_set(err, store_errno(rc), "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return r;
    }
    sqlite3_busy_timeout(db, 30000);
    struct store *s = calloc(1, sizeof(*s));
    if (!s) {
        sqlite3_close(db);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    s->db = db;
    r = store_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                      "CREATE TABLE IF NOT EXISTS schema_versions (module TEXT PRIMARY KEY, version INTEGER NOT NULL);",
                   err);
    if (r < 0) {
        store_close(s);
        return berth_error_prefix(err, r, "%s: ", path);
    }
    *ret = s;
    return 0;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

sqlite3 *store_db(struct store *s)
{
    return s->db;
}

int store_exec(struct store *s, const char *sql, struct berth_error *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int r = berth_error_set(err, store_errno(rc), "state database: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret, struct berth_error *err)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);
    if (rc != SQLITE_OK)
        return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(s->db));
    return 0;
}

int store_begin(struct store *s, struct berth_error *err)
{
    return store_exec(s, "BEGIN IMMEDIATE", err);
}

int store_commit(struct store *s, struct berth_error *err)
{
    return store_exec(s, "COMMIT", err);
}

void store_rollback(struct store *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int schema_version(struct store *s, const char *module, int *ret, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT version FROM schema_versions WHERE module = ?", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, module, -1, SQLITE_STATIC);
    *ret = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    return 0;
}

static int set_schema_version(struct store *s, const char *module, int version, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *up = NULL;
    int r = store_prepare(s, "INSERT OR REPLACE INTO schema_versions (module, version) VALUES (?, ?)", &up, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(up, 1, module, -1, SQLITE_STATIC);
    sqlite3_bind_int(up, 2, version);
    if (sqlite3_step(up) != SQLITE_DONE)
        return berth_error_set(err, -EIO, "state database: %s", sqlite3_errmsg(s->db));
    return 0;
}

int store_ensure_migrations(struct store *s, const char *module, const char *const *migrations, int n,
                            struct berth_error *err)
{
    int r = store_begin(s, err);
    if (r < 0)
        return r;
    int have = 0;
    r = schema_version(s, module, &have, err);
    if (r == 0 && have > n)
        r = berth_error_set(err, -EPROTO, "state database: module %s is at schema version %d, newer than this berth (%d)",
                            module, have, n);
    for (int v = have; r == 0 && v < n; v++) {
        r = store_exec(s, migrations[v], err);
        if (r == 0)
            r = set_schema_version(s, module, v + 1, err);
    }
    if (r < 0) {
        store_rollback(s);
        return r;
    }
    return store_commit(s, err);
}

int store_ensure_schema(struct store *s, const char *module, int version, const char *sql, struct berth_error *err)
{
    int r = store_begin(s, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s, "SELECT version FROM schema_versions WHERE module = ?", &st, err);
    if (r < 0)
        goto fail;
    sqlite3_bind_text(st, 1, module, -1, SQLITE_STATIC);
    int have = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        have = sqlite3_column_int(st, 0);
    if (have > version) {
        r = berth_error_set(err, -EPROTO, "state database: module %s is at schema version %d, newer than this berth (%d)",
                            module, have, version);
        goto fail;
    }
    if (have < version) {
        r = store_exec(s, sql, err);
        if (r < 0)
            goto fail;
        _cleanup_stmt_ sqlite3_stmt *up = NULL;
        r = store_prepare(s, "INSERT OR REPLACE INTO schema_versions (module, version) VALUES (?, ?)", &up, err);
        if (r < 0)
            goto fail;
        sqlite3_bind_text(up, 1, module, -1, SQLITE_STATIC);
        sqlite3_bind_int(up, 2, version);
        if (sqlite3_step(up) != SQLITE_DONE) {
            r = berth_error_set(err, -EIO, "state database: %s", sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    return store_commit(s, err);
fail:
    store_rollback(s);
    return r;
}
