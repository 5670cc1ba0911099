#include "store/named.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"

/* Longest SELECT we build: fixed text plus the table's column list. */
#define NAMED_SQL_MAX 2048

bool named_is_valid(const char *name, size_t max)
{
    size_t n = strlen(name);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

static int prepare(struct store *s, const struct named_table *t, const char *tail, sqlite3_stmt **st,
                   struct berth_error *err)
{
    char sql[NAMED_SQL_MAX];
    int n = snprintf(sql, sizeof(sql), "SELECT %s FROM %s %s", t->columns, t->table, tail);
    if (n < 0 || (size_t) n >= sizeof(sql))
        return berth_error_set(err, -ENAMETOOLONG, "state database: query on %s too long", t->table);
    return store_prepare(s, sql, st, err);
}

static bool is_id_prefix(const char *what)
{
    size_t n = strlen(what);
    if (n < 4 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((what[i] >= '0' && what[i] <= '9') || (what[i] >= 'a' && what[i] <= 'f')))
            return false;
    return true;
}

int named_find(struct store *s, const struct named_table *t, const char *what, void *record,
               struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, t, "WHERE name = ?1 OR id = ?1", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, what, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        t->load(st, record);
        return 0;
    }
    if (!is_id_prefix(what))
        return berth_error_set(err, -ENOENT, "no such %s: %s", t->kind, what);

    _cleanup_stmt_ sqlite3_stmt *pst = NULL;
    r = prepare(s, t, "WHERE substr(id, 1, ?2) = ?1 LIMIT 2", &pst, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(pst, 1, what, -1, SQLITE_STATIC);
    sqlite3_bind_int(pst, 2, (int) strlen(what));
    if (sqlite3_step(pst) != SQLITE_ROW)
        return berth_error_set(err, -ENOENT, "no such %s: %s", t->kind, what);
    t->load(pst, record);
    if (sqlite3_step(pst) == SQLITE_ROW) {
        t->clear(record);
        return berth_error_set(err, -EINVAL, "%s id prefix '%s' is ambiguous", t->kind, what);
    }
    return 0;
}

int named_list(struct store *s, const struct named_table *t, const char *order_by, void **ret, size_t *ret_n,
               struct berth_error *err)
{
    char tail[256];
    snprintf(tail, sizeof(tail), "ORDER BY %s", order_by);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, t, tail, &st, err);
    if (r < 0)
        return r;
    unsigned char *list = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (array_reserve(&list, &cap, n + 1, t->record_size, 16) < 0) {
            r = berth_error_set(err, -ENOMEM, "out of memory");
            goto fail;
        }
        t->load(st, list + n * t->record_size);
        n++;
    }
    if (rc != SQLITE_DONE) {
        r = berth_error_set(err, store_errno(rc), "state database: listing %s: %s", t->table,
                            sqlite3_errmsg(store_db(s)));
        goto fail;
    }
    *ret = list;
    *ret_n = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++)
        t->clear(list + i * t->record_size);
    free(list);
    return r;
}
