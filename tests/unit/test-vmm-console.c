/* The console's host side: the raw-terminal escape filter, the output hub's fan-out to the log
 * and the file, and the configuration keys that choose them. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/json.h"
#include "vmm/config.h"
#include "vmm/console.h"

static void test_escape_filter(void **state)
{
    (void) state;
    struct vmm_console c = { .raw = true };
    uint8_t a[] = "ab\x01\x01" "c\x01zd";
    /* Ctrl-A Ctrl-A is one Ctrl-A; Ctrl-A z is swallowed. */
    assert_int_equal(vmm_console_filter_input(&c, a, 8), 5);
    assert_memory_equal(a, "ab\x01" "cd", 5);
    /* The escape may end one read and its key start the next. */
    uint8_t b[] = "q\x01";
    assert_int_equal(vmm_console_filter_input(&c, b, 2), 1);
    uint8_t x[] = "x";
    assert_int_equal(vmm_console_filter_input(&c, x, 1), -1);
    /* Not a terminal: bytes pass untouched, Ctrl-A x included. */
    struct vmm_console plain = { .raw = false };
    uint8_t p[] = "\x01x";
    assert_int_equal(vmm_console_filter_input(&plain, p, 2), 2);
}

static void test_hub_fans_out_to_log_and_file(void **state)
{
    (void) state;
    char dir[] = "/tmp/berth-test-console-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char out[256], log[256];
    snprintf(out, sizeof(out), "%s/out", dir);
    snprintf(log, sizeof(log), "%s/log", dir);
    FILE *f = fopen(log, "w");
    fputs("old\n", f);
    fclose(f);
    struct vmm_config cfg;
    vmm_config_init(&cfg);
    struct berth_error err = { 0 };
    assert_int_equal(vmm_config_set_console(&cfg, out, &err), 0);
    cfg.console_log = strdup(log);
    struct vmm_console c;
    assert_int_equal(vmm_console_open(&c, &cfg, &err), 0);
    int g = vmm_console_guest_fd(&c);
    assert_true(g >= 0 && g == c.hub_w);
    assert_true(c.vc_in_r >= 0 && c.vc_in_w >= 0);
    assert_int_equal(write(g, "guest says hi\n", 14), 14);
    vmm_console_drain(&c);
    vmm_console_close(&c);
    char buf[64] = { 0 };
    int fd = open(log, O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 18);
    close(fd);
    assert_string_equal(buf, "old\nguest says hi\n");
    memset(buf, 0, sizeof(buf));
    fd = open(out, O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 14);
    close(fd);
    unlink(out);
    unlink(log);
    rmdir(dir);
    vmm_config_clear(&cfg);
}

static void test_config_keys(void **state)
{
    (void) state;
    struct vmm_config cfg;
    vmm_config_init(&cfg);
    struct berth_error err = { 0 };
    json_t *j = json_loads("{\"balloon\": true, \"console_log\": \"/tmp/x.log\"}", 0, NULL);
    assert_int_equal(vmm_config_from_json(j, "config", &cfg, &err), 0);
    json_decref(j);
    assert_true(cfg.balloon);
    assert_string_equal(cfg.console_log, "/tmp/x.log");
    json_t *back = vmm_config_to_json(&cfg);
    assert_true(json_is_true(json_object_get(back, "balloon")));
    json_decref(back);
    j = json_loads("{\"balloon\": 1}", 0, NULL);
    assert_true(vmm_config_from_json(j, "config", &cfg, &err) < 0);
    assert_non_null(strstr(berth_error_message(&err), "balloon"));
    json_decref(j);
    vmm_config_clear(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_filter),
        cmocka_unit_test(test_hub_fans_out_to_log_and_file),
        cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
