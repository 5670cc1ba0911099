/* berth's state database: $BERTH_ROOT/berth.db (SQLite, WAL). Shared by containers, images,
 * networks and VMs. Each module owns its tables and declares them with store_ensure_schema. */
#pragma once

#include <sqlite3.h>

#include "base/error.h"

struct store;

/* $BERTH_ROOT, or /var/lib/berth when unset. */
const char *berth_root_dir(void);
/* $BERTH_RUNTIME_DIR, or /run/berth when unset. */
const char *berth_runtime_dir(void);

/* Opens (creating) root/berth.db: WAL, foreign keys, a busy timeout so concurrent berth commands
 * wait for each other instead of failing. */
int store_open(const char *root, struct store **ret, struct berth_error *err);
void store_close(struct store *s);
sqlite3 *store_db(struct store *s);

/* Runs sql (one or more statements) once per module and version: migrations are recorded in
 * table schema_versions, and a module at a newer version than this binary knows is an error. */
int store_ensure_schema(struct store *s, const char *module, int version, const char *sql, struct berth_error *err);

/* Like store_ensure_schema for a module whose schema changes over time: migrations[i] brings the
 * module from version i to i+1 (migrations[0] creates its tables), n is the current version.
 * Only the steps the database lacks run, in one transaction. */
int store_ensure_migrations(struct store *s, const char *module, const char *const *migrations, int n,
                            struct berth_error *err);

/* BEGIN IMMEDIATE (takes the write lock up front, so two writers never deadlock), COMMIT, ROLLBACK. */
int store_begin(struct store *s, struct berth_error *err);
int store_commit(struct store *s, struct berth_error *err);
void store_rollback(struct store *s);

/* Executes sql without results. */
int store_exec(struct store *s, const char *sql, struct berth_error *err);

/* Prepares sql; errors name the statement's failure from SQLite. */
int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret, struct berth_error *err);

/* Maps a SQLite result code to -errno (SQLITE_CONSTRAINT is -EEXIST, SQLITE_BUSY is -EBUSY). */
int store_errno(int sqlite_rc);

static inline void store_closep(struct store **s)
{
    if (*s)
        store_close(*s);
}
#define _cleanup_store_ __attribute__((cleanup(store_closep)))

static inline void sqlite3_finalizep(sqlite3_stmt **st)
{
    if (*st)
        sqlite3_finalize(*st);
}
#define _cleanup_stmt_ __attribute__((cleanup(sqlite3_finalizep)))
