/* berth.conf's [network] keys: default_network (berth when unset; none, host or a network name;
 * bad values named with file and line) and default_subnet. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fs.h"
#include "net/cidr.h"
#include "net/network.h"

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/berth-test-netconf-XXXXXX");
    assert_non_null(mkdtemp(dir));
    setenv("BERTH_ROOT", dir, 1);
    return 0;
}

static int teardown(void **state)
{
    fs_rm_rf(dir);
    unsetenv("BERTH_ROOT");
    return 0;
}

static void write_conf(const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/berth.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_default_network_unset(void **state)
{
    char name[NET_NAME_MAX];
    struct berth_error err = { 0 };
    assert_int_equal(network_default_name(name, &err), 0); /* no berth.conf at all */
    assert_string_equal(name, "berth");
    write_conf("[network]\ndefault_subnet = 10.77.0.0/16\n[other]\ndefault_network = none\n");
    assert_int_equal(network_default_name(name, &err), 0); /* only [network] counts */
    assert_string_equal(name, "berth");
}

static void test_default_network_values(void **state)
{
    static const char *const ok[] = { "none", "host", "berth", "backend-1", "my.net" };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char text[128], name[NET_NAME_MAX];
        snprintf(text, sizeof(text), "# comment\n\n[network]\n  default_network =  %s  # trailing\n", ok[i]);
        write_conf(text);
        struct berth_error err = { 0 };
        assert_int_equal(network_default_name(name, &err), 0);
        assert_string_equal(name, ok[i]);
    }
}

static void test_default_network_bad_value_names_line(void **state)
{
    write_conf("[network]\n\n# blank lines count\ndefault_network = no such net\n");
    char name[NET_NAME_MAX] = "unchanged";
    struct berth_error err = { 0 };
    assert_int_equal(network_default_name(name, &err), -EINVAL);
    assert_non_null(strstr(berth_error_message(&err), "berth.conf:4: network.default_network"));
    assert_string_equal(name, "unchanged");
    write_conf("[network\ndefault_network = none\n");
    berth_error_clear(&err);
    assert_int_equal(network_default_name(name, &err), -EINVAL);
    assert_non_null(strstr(berth_error_message(&err), "berth.conf:1: unterminated section header"));
}

static void test_default_subnet(void **state)
{
    struct net_cidr c;
    struct berth_error err = { 0 };
    assert_int_equal(network_default_subnet(&c, &err), 0);
    char buf[32];
    assert_string_equal(cidr_format(&c, buf, sizeof(buf)), "10.89.0.0/16");
    write_conf("[network]\ndefault_network = none\ndefault_subnet = 10.77.0.0/16\n");
    assert_int_equal(network_default_subnet(&c, &err), 0);
    assert_string_equal(cidr_format(&c, buf, sizeof(buf)), "10.77.0.0/16");
    write_conf("[network]\n\ndefault_subnet = 10.77.0.1/16\n");
    assert_int_equal(network_default_subnet(&c, &err), -EINVAL);
    assert_non_null(strstr(berth_error_message(&err), "berth.conf:3: network.default_subnet"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_network_unset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_network_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_network_bad_value_names_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_subnet, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
