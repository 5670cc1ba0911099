/* The client side of attaching: Docker-style detach key specs and the input filter that holds a
 * partial detach sequence back across reads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "containers/attach.h"

static void test_parse_detach_keys(void **state)
{
    (void) state;
    char k[CTR_DETACH_KEYS_MAX];
    size_t n = 99;
    struct berth_error err = { 0 };
    assert_int_equal(ctr_parse_detach_keys(CTR_DETACH_KEYS_DEFAULT, k, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(k[0], 0x10);
    assert_int_equal(k[1], 0x11);
    assert_int_equal(ctr_parse_detach_keys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_,a,,", k, &n, &err), -EINVAL);
    berth_error_clear(&err);
    assert_int_equal(ctr_parse_detach_keys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_,a", k, &n, &err), 0);
    assert_int_equal(n, 7);
    assert_memory_equal(k, "\x00\x1b\x1c\x1d\x1e\x1f" "a", 7);
    assert_int_equal(ctr_parse_detach_keys("", k, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(ctr_parse_detach_keys("ctrl-1", k, &n, &err), -EINVAL);
    assert_non_null(strstr(berth_error_message(&err), "ctrl-1"));
    berth_error_clear(&err);
    assert_int_equal(ctr_parse_detach_keys("ctrl-p,,ctrl-q", k, &n, &err), -EINVAL);
    berth_error_clear(&err);
    assert_int_equal(ctr_parse_detach_keys("shift-p", k, &n, &err), -EINVAL);
    berth_error_clear(&err);
    assert_int_equal(ctr_parse_detach_keys("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", k, &n, &err), -EINVAL);
    berth_error_clear(&err);
}

static size_t feed(struct ctr_attach *a, const char *in, char *out, bool *detach)
{
    return ctr_attach_filter_input(a, in, strlen(in), out, detach);
}

static void test_filter_input(void **state)
{
    (void) state;
    struct ctr_attach a = { .detach_keys = "\x10\x11", .n_detach_keys = 2 };
    char out[64];
    bool detach;
    /* Plain input passes. */
    assert_int_equal(feed(&a, "ls\r", out, &detach), 3);
    assert_false(detach);
    assert_memory_equal(out, "ls\r", 3);
    /* ctrl-p alone is held back until the next key says what it was. */
    assert_int_equal(feed(&a, "x\x10", out, &detach), 1);
    assert_false(detach);
    assert_int_equal(feed(&a, "y", out, &detach), 2);
    assert_memory_equal(out, "\x10y", 2);
    /* The sequence split across reads detaches; what came before it is still sent. */
    assert_int_equal(feed(&a, "ab\x10", out, &detach), 2);
    assert_int_equal(feed(&a, "\x11zz", out, &detach), 0);
    assert_true(detach);
    assert_int_equal(a.matched, 0);
    /* ctrl-p ctrl-p ctrl-q: the first ctrl-p is input, the rest detaches. */
    assert_int_equal(feed(&a, "\x10\x10\x11", out, &detach), 1);
    assert_true(detach);
    assert_int_equal(out[0], 0x10);
    /* No detach keys: everything is input. */
    struct ctr_attach none = { .n_detach_keys = 0 };
    assert_int_equal(feed(&none, "\x10\x11", out, &detach), 2);
    assert_false(detach);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_detach_keys),
        cmocka_unit_test(test_filter_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
