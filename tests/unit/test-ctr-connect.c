/* What network connect --ip/--alias and run --ip/--network-alias record in a container's spec
 * ("network_opts", per network): checked before anything is recorded, and read back as the start
 * path reads it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "containers/connect.h"

static void test_check(void **state)
{
    (void) state;
    struct berth_error err = { 0 };
    const char *good[] = { "db", "Cache.v2", "a_b-c" };
    struct ctr_network_opts o = { .ip = "10.1.2.3", .aliases = good, .n_aliases = 3 };
    assert_int_equal(ctr_network_opts_check(&o, &err), 0);
    assert_int_equal(ctr_network_opts_check(NULL, &err), 0);
    o.ip = "10.1.2.300";
    assert_int_equal(ctr_network_opts_check(&o, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "--ip"));
    berth_error_clear(&err);
    o.ip = NULL;
    const char *bad[] = { "ok", ".dot-first" };
    o.aliases = bad;
    o.n_aliases = 2;
    assert_int_equal(ctr_network_opts_check(&o, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "alias '.dot-first'"));
}

static void test_round_trip(void **state)
{
    (void) state;
    const char *aliases[] = { "api", "web" };
    struct ctr_network_opts o = { .ip = "10.81.0.50", .aliases = aliases, .n_aliases = 2 };
    json_t *spec = json_pack("{s:{s:o}}", "network_opts", "front", ctr_network_opts_json(&o));
    assert_non_null(spec);
    struct ctr_network_opts back;
    const char **owned = NULL;
    assert_int_equal(ctr_network_opts_get(spec, "front", &back, &owned), 0);
    assert_string_equal(back.ip, "10.81.0.50");
    assert_int_equal(back.n_aliases, 2);
    assert_string_equal(back.aliases[0], "api");
    assert_string_equal(back.aliases[1], "web");
    free(owned);
    /* Another network, or a record from before network_opts: nothing. */
    assert_int_equal(ctr_network_opts_get(spec, "back", &back, &owned), 0);
    assert_null(back.ip);
    assert_int_equal(back.n_aliases, 0);
    assert_null(owned);
    json_t *old = json_pack("{s:s}", "network", "front");
    assert_int_equal(ctr_network_opts_get(old, "front", &back, &owned), 0);
    assert_null(back.ip);
    assert_null(owned);
    /* No aliases: an empty array, and none read back. */
    struct ctr_network_opts ip_only = { .ip = "10.0.0.9" };
    json_t *j = ctr_network_opts_json(&ip_only);
    assert_int_equal(json_array_size(json_object_get(j, "aliases")), 0);
    json_object_set_new(spec, "network_opts", json_pack("{s:o}", "x", j));
    assert_int_equal(ctr_network_opts_get(spec, "x", &back, &owned), 0);
    assert_string_equal(back.ip, "10.0.0.9");
    assert_int_equal(back.n_aliases, 0);
    assert_null(owned);
    json_decref(old);
    json_decref(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
