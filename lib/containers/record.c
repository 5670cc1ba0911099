#include "containers/containers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "store/named.h"
#include "store/store.h"

static const char schema[] =
    "CREATE TABLE containers ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, image TEXT NOT NULL, image_digest TEXT NOT NULL,"
    " spec TEXT NOT NULL, state TEXT NOT NULL, monitor_pid INTEGER NOT NULL DEFAULT 0,"
    " exit_code INTEGER NOT NULL DEFAULT -1, created INTEGER NOT NULL, started INTEGER NOT NULL DEFAULT 0,"
    " finished INTEGER NOT NULL DEFAULT 0, restart TEXT NOT NULL DEFAULT 'no', restarts INTEGER NOT NULL DEFAULT 0,"
    " auto_remove INTEGER NOT NULL DEFAULT 0);";

#define COLUMNS                                                                                                   \
    "id, name, image, image_digest, spec, state, monitor_pid, exit_code, created, started, finished, restart,"  \
    " restarts, auto_remove"

int ctr_store_open(struct store **ret, struct berth_error *err)
{
    struct store *s = NULL;
    int r = store_open(berth_root_dir(), &s, err);
    if (r == 0)
        r = store_ensure_schema(s, "containers", 1, schema, err);
    if (r < 0) {
        store_close(s);
        return r;
    }
    *ret = s;
    return 0;
}

bool ctr_name_is_valid(const char *name)
{
    return named_is_valid(name, CTR_NAME_MAX);
}

static void text(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, cap, "%s", t ? (const char *) t : "");
}

static void from_row(sqlite3_stmt *st, struct ctr_record *r)
{
    *r = (struct ctr_record){ 0 };
    text(r->id, sizeof(r->id), st, 0);
    text(r->name, sizeof(r->name), st, 1);
    text(r->image, sizeof(r->image), st, 2);
    text(r->image_digest, sizeof(r->image_digest), st, 3);
    const unsigned char *spec = sqlite3_column_text(st, 4);
    r->spec = spec ? json_loads((const char *) spec, 0, NULL) : NULL;
    text(r->state, sizeof(r->state), st, 5);
    r->monitor_pid = (pid_t) sqlite3_column_int(st, 6);
    r->exit_code = sqlite3_column_int(st, 7);
    r->created = sqlite3_column_int64(st, 8);
    r->started = sqlite3_column_int64(st, 9);
    r->finished = sqlite3_column_int64(st, 10);
    text(r->restart, sizeof(r->restart), st, 11);
    r->restarts = sqlite3_column_int(st, 12);
    r->auto_remove = sqlite3_column_int(st, 13) != 0;
}

int ctr_record_insert(struct store *s, struct ctr_record *rec, struct berth_error *err)
{
    if (!rec->id[0]) {
        unsigned char b[32];
        if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b))
            return berth_error_errno(err, -errno, "getrandom");
        for (size_t i = 0; i < sizeof(b); i++)
            sprintf(rec->id + 2 * i, "%02x", b[i]);
    }
    if (!rec->name[0]) {
        /* Docker-like generated names would need a word list; a short id prefix is just as unique. */
        snprintf(rec->name, sizeof(rec->name), "c-%.12s", rec->id);
    }
    if (!ctr_name_is_valid(rec->name))
        return berth_error_set(err, -EINVAL,
                               "invalid container name '%s': use letters, digits, '_', '.', '-' (at most %d, "
                               "starting with a letter or digit)",
                               rec->name, CTR_NAME_MAX);
    if (!rec->created)
        rec->created = time(NULL);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "INSERT INTO containers (" COLUMNS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &st, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *spec = json_dumps(rec->spec ? rec->spec : json_object(), JSON_COMPACT);
    sqlite3_bind_text(st, 1, rec->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rec->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rec->image, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, rec->image_digest, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, spec ? spec : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, rec->state[0] ? rec->state : "created", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 7, rec->monitor_pid);
    sqlite3_bind_int(st, 8, rec->exit_code);
    sqlite3_bind_int64(st, 9, rec->created);
    sqlite3_bind_int64(st, 10, rec->started);
    sqlite3_bind_int64(st, 11, rec->finished);
    sqlite3_bind_text(st, 12, rec->restart[0] ? rec->restart : "no", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 13, rec->restarts);
    sqlite3_bind_int(st, 14, rec->auto_remove);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if ((rc & 0xff) == SQLITE_CONSTRAINT && strstr(sqlite3_errmsg(store_db(s)), "containers.name"))
        return berth_error_set(err, -EEXIST, "the container name '%s' is already in use", rec->name);
    return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(s)));
}

static void load_row(sqlite3_stmt *st, void *record)
{
    from_row(st, record);
}

static void clear_record(void *record)
{
    ctr_record_clear(record);
}

static const struct named_table containers_table = {
    .table = "containers",
    .columns = COLUMNS,
    .kind = "container",
    .record_size = sizeof(struct ctr_record),
    .load = load_row,
    .clear = clear_record,
};

int ctr_record_find(struct store *s, const char *what, struct ctr_record *ret, struct berth_error *err)
{
    return named_find(s, &containers_table, what, ret, err);
}

int ctr_record_list(struct store *s, struct ctr_record **ret, size_t *ret_n, struct berth_error *err)
{
    void *list = NULL;
    int r = named_list(s, &containers_table, "created DESC, name", &list, ret_n, err);
    if (r >= 0)
        *ret = list;
    return r;
}

int ctr_record_update(struct store *s, const struct ctr_record *rec, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "UPDATE containers SET state = ?, monitor_pid = ?, exit_code = ?, started = ?, finished = ?,"
                          " restarts = ? WHERE id = ?",
                          &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, rec->state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, rec->monitor_pid);
    sqlite3_bind_int(st, 3, rec->exit_code);
    sqlite3_bind_int64(st, 4, rec->started);
    sqlite3_bind_int64(st, 5, rec->finished);
    sqlite3_bind_int(st, 6, rec->restarts);
    sqlite3_bind_text(st, 7, rec->id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return berth_error_set(err, -EIO, "state database: %s", sqlite3_errmsg(store_db(s)));
    return 0;
}

int ctr_record_update_spec(struct store *s, const struct ctr_record *rec, struct berth_error *err)
{
    _cleanup_free_ char *spec = rec->spec ? json_dumps(rec->spec, JSON_COMPACT) : NULL;
    if (!spec)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "UPDATE containers SET spec = ? WHERE id = ?", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, spec, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rec->id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return berth_error_set(err, -EIO, "state database: %s", sqlite3_errmsg(store_db(s)));
    return 0;
}

int ctr_record_delete(struct store *s, const char *id, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "DELETE FROM containers WHERE id = ?", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : berth_error_set(err, -EIO, "state database: %s", sqlite3_errmsg(store_db(s)));
}

void ctr_record_clear(struct ctr_record *rec)
{
    json_decref(rec->spec);
    rec->spec = NULL;
}

void ctr_record_list_free(struct ctr_record *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ctr_record_clear(&list[i]);
    free(list);
}

char *ctr_dir(const char *id)
{
    char *p;
    return asprintf(&p, "%s/containers/%s", berth_root_dir(), id) < 0 ? NULL : p;
}

char *ctr_oci_root(void)
{
    return fs_path_join(berth_runtime_dir(), "oci");
}

json_t *ctr_record_to_json(const struct ctr_record *r)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:i, s:b}", "id", r->id, "name", r->name,
                          "image", r->image, "image_digest", r->image_digest, "state", r->state, "created",
                          (json_int_t) r->created, "started", (json_int_t) r->started, "finished",
                          (json_int_t) r->finished, "restart", r->restart, "restarts", r->restarts, "auto_remove",
                          r->auto_remove);
    if (o) {
        json_object_set_new(o, "exit_code", r->exit_code >= 0 ? json_integer(r->exit_code) : json_null());
        json_object_set(o, "config", r->spec ? r->spec : json_null());
        json_object_set_new(o, "monitor_pid", json_integer(r->monitor_pid));
    }
    return o;
}

char *ctr_run_dir(const char *id)
{
    char *p;
    return asprintf(&p, "%s/containers/%s", berth_runtime_dir(), id) < 0 ? NULL : p;
}
