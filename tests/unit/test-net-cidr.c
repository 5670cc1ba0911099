/* IPv4 and CIDR parsing: strict forms, host bits, overlap. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "net/cidr.h"

static void test_ip_parse(void **state)
{
    uint32_t ip;
    struct berth_error err = { 0 };
    assert_int_equal(cidr_parse_ip("10.89.0.1", &ip, &err), 0);
    assert_int_equal(ip, 0x0a590001);
    assert_int_equal(cidr_parse_ip("255.255.255.255", &ip, &err), 0);
    assert_int_equal(ip, 0xffffffff);
    static const char *const bad[] = { "", "1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4",
                                       "1..2.3", "0x1.2.3.4", "1.2.3.0004", "1.2.3.-4", "a.b.c.d" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        berth_error_clear(&err);
        assert_int_equal(cidr_parse_ip(bad[i], &ip, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "IPv4"));
    }
    char buf[INET_ADDRSTRLEN];
    assert_string_equal(cidr_format_ip(0xc0a80101, buf), "192.168.1.1");
}

static void test_cidr_parse(void **state)
{
    struct net_cidr c;
    struct berth_error err = { 0 };
    assert_int_equal(cidr_parse("10.89.0.0/16", &c, &err), 0);
    assert_int_equal(c.addr, 0x0a590000);
    assert_int_equal(c.prefix, 16);
    char buf[32];
    assert_string_equal(cidr_format(&c, buf, sizeof(buf)), "10.89.0.0/16");
    assert_int_equal(cidr_first_host(&c), 0x0a590001);
    assert_int_equal(cidr_last_host(&c), 0x0a59fffe);
    assert_int_equal(cidr_parse("10.89.0.5/16", &c, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "did you mean 10.89.0.0/16"));
    static const char *const bad[] = { "10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/08",
                                       "10.0.0/8", "/8", "10.0.0.0/8x", "10.0.0.0/ 8" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        berth_error_clear(&err);
        assert_int_equal(cidr_parse(bad[i], &c, &err), -EINVAL);
    }
    assert_int_equal(cidr_parse("0.0.0.0/0", &c, &err), 0);
    assert_int_equal(cidr_mask(0), 0);
    assert_int_equal(cidr_mask(32), 0xffffffff);
    assert_int_equal(cidr_mask(24), 0xffffff00);
}

static void test_overlap_contains(void **state)
{
    struct net_cidr a, b, c;
    cidr_parse("10.89.0.0/16", &a, NULL);
    cidr_parse("10.89.5.0/24", &b, NULL);
    cidr_parse("10.90.0.0/24", &c, NULL);
    assert_true(cidr_overlaps(&a, &b));
    assert_true(cidr_overlaps(&b, &a));
    assert_false(cidr_overlaps(&a, &c));
    assert_true(cidr_contains(&a, 0x0a590505));
    assert_false(cidr_contains(&b, 0x0a590605));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_parse),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_overlap_contains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
