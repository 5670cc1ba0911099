/* Records that users address like Docker objects (containers, VMs): a unique name and a hex id,
 * found by exact name, full id or a unique id prefix of at least 4 hex digits. One implementation
 * so containers and VMs accept the same names and answer lookups the same way. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

struct named_table {
    const char *table;   /* "containers" */
    const char *columns; /* the SELECT list load() reads */
    const char *kind;    /* "container", for messages: "no such container: x" */
    size_t record_size;  /* sizeof the record load() fills */
    void (*load)(sqlite3_stmt *st, void *record);
    void (*clear)(void *record); /* releases what load() allocated */
};

/* Letters, digits and (after the first character) '_', '.', '-'; 1..max characters. */
bool named_is_valid(const char *name, size_t max);

/* Fills *record (record_size bytes) with the row whose name or id is `what`, else the one row whose
 * id starts with `what`. -ENOENT "no such KIND: what", -EINVAL when the prefix is ambiguous. */
int named_find(struct store *s, const struct named_table *t, const char *what, void *record,
               struct berth_error *err);

/* All rows, ordered by `order_by` (an SQL ORDER BY list), as a malloc'ed array of records that the
 * caller frees by clearing each and freeing the array. */
int named_list(struct store *s, const struct named_table *t, const char *order_by, void **ret, size_t *ret_n,
               struct berth_error *err);
