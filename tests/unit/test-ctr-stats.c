/* berth top/stats helpers: /proc/PID/stat parsing and the CPU/memory arithmetic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "containers/stats.h"

static void test_proc_stat(void **state)
{
    char st;
    pid_t ppid;
    uint64_t ticks, start, rss;
    /* a comm with spaces and a ')' must not shift the fields */
    const char *text = "4242 (we) ird R 1) S 4200 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 "
                       "98765 4435968 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    assert_int_equal(ctr_parse_proc_stat(text, &st, &ppid, &ticks, &start, &rss), 0);
    assert_int_equal(st, 'S');
    assert_int_equal(ppid, 4200);
    assert_int_equal(ticks, 200);
    assert_int_equal(start, 98765);
    assert_int_equal(rss, 321);
    assert_int_equal(ctr_parse_proc_stat("12 (x) R 1 2", &st, &ppid, &ticks, &start, &rss), -EINVAL);
    assert_int_equal(ctr_parse_proc_stat("no paren", &st, &ppid, &ticks, &start, &rss), -EINVAL);
}

static void test_cpu_and_memory(void **state)
{
    struct cgroup_stats a = { .cpu_usage_ns = 1000000000 }, b = { .cpu_usage_ns = 1500000000 };
    assert_true(ctr_cpu_percent(&a, &b, 1000000000) == 50.0);
    assert_true(ctr_cpu_percent(&a, &b, 250000000) == 200.0); /* two CPUs busy */
    assert_true(ctr_cpu_percent(&b, &a, 1000000000) == 0.0);  /* counter went back (restart) */
    assert_true(ctr_cpu_percent(&a, &b, 0) == 0.0);
    struct cgroup_stats m = { .memory_usage = 1000, .memory_cache = 300 };
    assert_int_equal(ctr_memory_used(&m), 700);
    m.memory_cache = 5000;
    assert_int_equal(ctr_memory_used(&m), 1000);
}

static void test_net_dev(void **state)
{
    const char *text =
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
        "    lo:  123456     100    0    0    0     0          0         0   123456     100    0    0    0     0       0          0\n"
        "  eth0:    5000      40    0    0    0     0          0         0     7000      50    0    0    0     0       0          0\n"
        "  eth1:1000 1 0 0 0 0 0 0 2 1 0 0 0 0 0 0\n";
    uint64_t rx, tx;
    assert_int_equal(ctr_parse_net_dev(text, &rx, &tx), 0);
    assert_int_equal(rx, 6000);
    assert_int_equal(tx, 7002);
    assert_int_equal(ctr_parse_net_dev("", &rx, &tx), 0);
    assert_int_equal(rx + tx, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_stat),
        cmocka_unit_test(test_cpu_and_memory),
        cmocka_unit_test(test_net_dev),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
