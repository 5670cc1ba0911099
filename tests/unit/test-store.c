#include <errno.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/fs.h"
#include "store/named.h"
#include "store/store.h"

static void test_schema_is_applied_once_and_versions_checked(void **state)
{
    char dir[] = "/tmp/berth-test-store-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct store *s = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(store_open(dir, &s, &err), 0);
    assert_int_equal(store_ensure_schema(s, "demo", 1, "CREATE TABLE demo (name TEXT PRIMARY KEY);", &err), 0);
    /* Same version again: the CREATE is not re-run (it would fail). */
    assert_int_equal(store_ensure_schema(s, "demo", 1, "CREATE TABLE demo (name TEXT PRIMARY KEY);", &err), 0);
    assert_int_equal(store_exec(s, "INSERT INTO demo VALUES ('a')", &err), 0);
    assert_int_equal(store_exec(s, "INSERT INTO demo VALUES ('a')", &err), -EEXIST);
    berth_error_clear(&err);
    /* A newer schema than this binary knows is refused with a clear message. */
    assert_int_equal(store_ensure_schema(s, "demo", 2, "ALTER TABLE demo ADD COLUMN x INTEGER;", &err), 0);
    assert_int_equal(store_ensure_schema(s, "demo", 1, "", &err), -EPROTO);
    assert_non_null(strstr(err.msg, "newer than this berth"));
    store_close(s);
    assert_int_equal(fs_rm_rf(dir), 0);
}

static void test_migrations_run_only_missing_steps(void **state)
{
    char dir[] = "/tmp/berth-test-store-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct store *s = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(store_open(dir, &s, &err), 0);
    const char *v1[] = { "CREATE TABLE m (a INTEGER);" };
    const char *v2[] = { "CREATE TABLE m (a INTEGER);", "ALTER TABLE m ADD COLUMN b INTEGER;" };
    assert_int_equal(store_ensure_migrations(s, "m", v1, 1, &err), 0);
    assert_int_equal(store_ensure_migrations(s, "m", v2, 2, &err), 0);
    assert_int_equal(store_ensure_migrations(s, "m", v2, 2, &err), 0);
    assert_int_equal(store_exec(s, "INSERT INTO m (a, b) VALUES (1, 2)", &err), 0);
    assert_int_equal(store_ensure_migrations(s, "m", v1, 1, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "newer than this berth"));
    /* A failing step leaves the version where it was. */
    berth_error_clear(&err);
    const char *bad[] = { v2[0], v2[1], "ALTER TABLE nosuch ADD COLUMN c INTEGER;" };
    assert_true(store_ensure_migrations(s, "m", bad, 3, &err) < 0);
    berth_error_clear(&err);
    assert_int_equal(store_ensure_migrations(s, "m", v2, 2, &err), 0);
    store_close(s);
    assert_int_equal(fs_rm_rf(dir), 0);
}

static void test_rollback_discards(void **state)
{
    char dir[] = "/tmp/berth-test-store-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct store *s = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(store_open(dir, &s, &err), 0);
    assert_int_equal(store_exec(s, "CREATE TABLE t (v INTEGER)", &err), 0);
    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(store_exec(s, "INSERT INTO t VALUES (1)", &err), 0);
    store_rollback(s);
    sqlite3_stmt *st = NULL;
    assert_int_equal(store_prepare(s, "SELECT count(*) FROM t", &st, &err), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    store_close(s);
    assert_int_equal(fs_rm_rf(dir), 0);
}

struct thing {
    char id[65];
    char name[32];
};

static int live_things;

static void thing_load(sqlite3_stmt *st, void *record)
{
    struct thing *t = record;
    snprintf(t->id, sizeof(t->id), "%s", (const char *) sqlite3_column_text(st, 0));
    snprintf(t->name, sizeof(t->name), "%s", (const char *) sqlite3_column_text(st, 1));
    live_things++;
}

static void thing_clear(void *record)
{
    (void) record;
    live_things--;
}

static const struct named_table things = {
    .table = "things", .columns = "id, name", .kind = "thing", .record_size = sizeof(struct thing),
    .load = thing_load, .clear = thing_clear,
};

static void test_named_lookup_by_name_id_and_unique_prefix(void **state)
{
    (void) state;
    char dir[] = "/tmp/berth-test-store-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct store *s = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(store_open(dir, &s, &err), 0);
    assert_int_equal(store_exec(s, "CREATE TABLE things (id TEXT PRIMARY KEY, name TEXT UNIQUE, created INTEGER);"
                                   "INSERT INTO things VALUES ('abcd1111', 'web', 1), ('abcd2222', 'db', 2),"
                                   " ('ef001234', 'abcd', 3);", &err), 0);
    struct thing t;
    assert_int_equal(named_find(s, &things, "db", &t, &err), 0);
    assert_string_equal(t.id, "abcd2222");
    assert_int_equal(named_find(s, &things, "abcd1111", &t, &err), 0);
    assert_string_equal(t.name, "web");
    /* An exact name wins over an id prefix it also matches. */
    assert_int_equal(named_find(s, &things, "abcd", &t, &err), 0);
    assert_string_equal(t.name, "abcd");
    assert_int_equal(named_find(s, &things, "abcd2", &t, &err), 0);
    assert_string_equal(t.name, "db");
    assert_int_equal(named_find(s, &things, "ef00", &t, &err), 0);
    live_things = 0;
    assert_int_equal(store_exec(s, "UPDATE things SET name = 'other' WHERE id = 'ef001234'", &err), 0);
    assert_int_equal(named_find(s, &things, "abcd", &t, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "thing id prefix 'abcd' is ambiguous"));
    assert_int_equal(live_things, 0);
    berth_error_clear(&err);
    assert_int_equal(named_find(s, &things, "nosuch", &t, &err), -ENOENT);
    assert_string_equal(err.msg, "no such thing: nosuch");
    berth_error_clear(&err);
    /* Too short or not hex: never treated as a prefix. */
    assert_int_equal(named_find(s, &things, "abc", &t, &err), -ENOENT);
    berth_error_clear(&err);

    void *list = NULL;
    size_t n = 0;
    assert_int_equal(named_list(s, &things, "created DESC", &list, &n, &err), 0);
    assert_int_equal(n, 3);
    struct thing *v = list;
    assert_string_equal(v[0].name, "other");
    assert_string_equal(v[2].name, "web");
    free(list);

    assert_true(named_is_valid("web-1.a_b", 64));
    assert_false(named_is_valid("-web", 64));
    assert_false(named_is_valid("", 64));
    assert_false(named_is_valid("a/b", 64));
    assert_false(named_is_valid("abcdef", 5));
    store_close(s);
    assert_int_equal(fs_rm_rf(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_is_applied_once_and_versions_checked),
        cmocka_unit_test(test_rollback_discards),
        cmocka_unit_test(test_migrations_run_only_missing_steps),
        cmocka_unit_test(test_named_lookup_by_name_id_and_unique_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
