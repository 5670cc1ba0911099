#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/fs.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_is_applied_once_and_versions_checked),
        cmocka_unit_test(test_rollback_discards),
        cmocka_unit_test(test_migrations_run_only_missing_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
