/* berth-vmm's disk options: "FILE[,ro|rw][,format=raw|qcow2]" on the command line and
 * {"path","read_only","format"} in JSON; the format survives the JSON round trip that the control
 * socket's "configure" does, so a disk configured with a format is never probed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/config.h"

static void test_cli_spec(void **state)
{
    (void) state;
    struct vmm_config c;
    vmm_config_init(&c);
    struct berth_error err = { 0 };
    assert_int_equal(vmm_config_add_disk(&c, "/a.img", &err), 0);
    assert_int_equal(vmm_config_add_disk(&c, "/b.img,ro,format=raw", &err), 0);
    assert_int_equal(vmm_config_add_disk(&c, "/c.qcow2,format=qcow2,rw", &err), 0);
    assert_int_equal(c.n_disks, 3);
    assert_null(c.disks[0].format);
    assert_false(c.disks[0].read_only);
    assert_string_equal(c.disks[1].path, "/b.img");
    assert_true(c.disks[1].read_only);
    assert_string_equal(c.disks[1].format, "raw");
    assert_string_equal(c.disks[2].format, "qcow2");
    assert_false(c.disks[2].read_only);

    assert_int_equal(vmm_config_add_disk(&c, "/d.img,format=vmdk", &err), -EINVAL);
    assert_non_null(strstr(berth_error_message(&err), "unknown format 'vmdk' (raw or qcow2)"));
    berth_error_clear(&err); /* the first error set is kept */
    assert_int_equal(vmm_config_add_disk(&c, "/d.img,ro,frob", &err), -EINVAL);
    assert_non_null(strstr(berth_error_message(&err), "unknown option 'frob'"));
    assert_int_equal(vmm_config_add_disk(&c, ",format=raw", &err), -EINVAL);
    assert_int_equal(c.n_disks, 3); /* nothing half-added */
    vmm_config_clear(&c);
}

static void test_json_round_trip(void **state)
{
    (void) state;
    struct vmm_config c;
    vmm_config_init(&c);
    struct berth_error err = { 0 };
    json_t *j = json_loads("{\"disks\": [{\"path\": \"/x,with,commas.img\", \"read_only\": true, \"format\": \"raw\"},"
                           " {\"path\": \"/y.qcow2\"}]}",
                           0, NULL);
    assert_int_equal(vmm_config_from_json(j, "config", &c, &err), 0);
    json_decref(j);
    assert_int_equal(c.n_disks, 2);
    assert_string_equal(c.disks[0].path, "/x,with,commas.img"); /* JSON paths are taken whole */
    assert_string_equal(c.disks[0].format, "raw");
    assert_null(c.disks[1].format);

    json_t *back = vmm_config_to_json(&c);
    struct vmm_config again;
    vmm_config_init(&again);
    assert_int_equal(vmm_config_from_json(back, "again", &again, &err), 0);
    json_decref(back);
    assert_int_equal(again.n_disks, 2);
    assert_string_equal(again.disks[0].format, "raw");
    assert_true(again.disks[0].read_only);
    assert_null(again.disks[1].format);
    vmm_config_clear(&again);

    j = json_loads("{\"disks\": [{\"path\": \"/z.img\", \"format\": \"vdi\"}]}", 0, NULL);
    assert_true(vmm_config_from_json(j, "config", &c, &err) < 0);
    assert_non_null(strstr(berth_error_message(&err), "vdi"));
    json_decref(j);
    berth_error_clear(&err);
    j = json_loads("{\"disks\": [{\"path\": \"/z.img\", \"format\": 7}]}", 0, NULL);
    assert_true(vmm_config_from_json(j, "config", &c, &err) < 0);
    json_decref(j);
    vmm_config_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_spec),
        cmocka_unit_test(test_json_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
