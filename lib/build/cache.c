/* The build cache: cache key -> the image a step produced, in the state database. */
#include "build/cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "store/store.h"

static const char schema[] = "CREATE TABLE IF NOT EXISTS build_cache ("
                             " key TEXT PRIMARY KEY, image TEXT NOT NULL, created INTEGER NOT NULL);";

int build_cache_lookup(struct store *s, const char *key, char **ret_image, struct berth_error *err)
{
    int r = store_ensure_schema(s, "build", 1, schema, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s, "SELECT image FROM build_cache WHERE key = ?", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return berth_error_set(err, store_errno(rc), "build cache: %s", sqlite3_errmsg(store_db(s)));
    char *v = strdup((const char *) sqlite3_column_text(st, 0));
    if (!v)
        return berth_error_set(err, -ENOMEM, "out of memory");
    *ret_image = v;
    return 1;
}

int build_cache_store(struct store *s, const char *key, const char *image, struct berth_error *err)
{
    int r = store_ensure_schema(s, "build", 1, schema, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_prepare(s, "INSERT OR REPLACE INTO build_cache (key, image, created) VALUES (?, ?, ?)", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, image, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64) time(NULL));
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return berth_error_set(err, store_errno(rc), "build cache: %s", sqlite3_errmsg(store_db(s)));
    return 0;
}
