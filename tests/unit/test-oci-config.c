/* lib/oci: config.json validation names the field at fault; mount options; state files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "base/json.h"
#include "oci/config.h"
#include "oci/state.h"

static int parse(const char *text, struct oci_config **ret, struct berth_error *err)
{
    json_t *j = NULL;
    int r = json_load_buffer(text, strlen(text), "config.json", &j, err);
    if (r < 0)
        return r;
    r = oci_config_from_json(j, NULL, "config.json", ret, err);
    json_decref(j);
    return r;
}

#define BASE "\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"rootfs\"},\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}"

static void expect_error(const char *text, const char *needle)
{
    struct oci_config *c = NULL;
    struct berth_error err = { 0 };
    assert_true(parse(text, &c, &err) < 0);
    assert_null(c);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' not in '%s'", needle, err.msg);
}

static void test_valid_minimal(void **state)
{
    struct oci_config *c = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(parse("{" BASE ",\"hostname\":\"h\",\"linux\":{\"namespaces\":[{\"type\":\"uts\"},{\"type\":\"mount\"}]}}",
                           &c, &err), 0);
    assert_string_equal(c->process.args[0], "sh");
    assert_true(c->ns[OCI_NS_UTS].present);
    assert_false(c->ns[OCI_NS_PID].present);
    assert_string_equal(c->hostname, "h");
    oci_runtime_config_free(c);
}

static void test_errors_name_the_field(void **state)
{
    expect_error("{\"root\":{\"path\":\"r\"}}", "ociVersion: missing");
    expect_error("{\"ociVersion\":\"2.0.0\"}", "not a 1.x");
    expect_error("{" BASE ",\"linux\":{\"namespaces\":[{\"type\":\"bogus\"}]}}", "linux.namespaces[0].type: unknown namespace type 'bogus'");
    expect_error("{" BASE ",\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"pid\"}]}}", "listed twice");
    expect_error("{" BASE ",\"linux\":{\"namespaces\":[{\"type\":\"user\"}],\"uidMappings\":[{\"containerID\":0,\"hostID\":1}]}}",
                 "linux.uidMappings[0]: containerID, hostID and size are required");
    expect_error("{" BASE ",\"linux\":{\"uidMappings\":[{\"containerID\":0,\"hostID\":1,\"size\":1}]}}", "without a user namespace");
    expect_error("{\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[],\"cwd\":\"/\"}}", "process.args");
    expect_error("{\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\"],\"env\":[\"NOEQ\"]}}", "process.env[0]");
    expect_error("{" BASE ",\"mounts\":[{\"destination\":\"rel\",\"type\":\"tmpfs\"}]}", "mounts[0].destination: 'rel' must be an absolute path");
    expect_error("{" BASE ",\"mounts\":[{\"destination\":\"/x\",\"type\":\"bind\"}]}", "mounts[0].source: a bind mount needs a source");
    expect_error("{" BASE ",\"hostname\":\"x\"}", "hostname: setting it needs a new uts namespace");
    expect_error("{" BASE ",\"hooks\":{\"prestart\":[{\"path\":\"rel\"}]}}", "hooks.prestart[0].path");
    expect_error("{" BASE ",\"linux\":{\"devices\":[{\"path\":\"/dev/x\",\"type\":\"q\"}]}}", "linux.devices[0].type");
    expect_error("{" BASE ",\"linux\":{\"sysctl\":{\"kernel.panic\":\"1\"}}}", "not namespaced");
    expect_error("{\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\"],\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":5,\"hard\":4}]}}",
                 "soft limit 5 is above hard limit 4");
    expect_error("{" BASE ",\"linux\":{\"rootfsPropagation\":\"sideways\"}}", "rootfsPropagation");
}

static void test_mount_options(void **state)
{
    json_t *opts = json_pack("[s,s,s,s,s,s,s]", "rbind", "ro", "nosuid", "rprivate", "mode=755", "size=1k", "rnodev");
    struct oci_mount m = { 0 };
    struct berth_error err = { 0 };
    assert_int_equal(oci_mount_parse_options(opts, "mounts[0]", &m, &err), 0);
    assert_true(m.bind && m.recursive);
    assert_true(m.flags & MS_RDONLY);
    assert_true(m.flags & MS_NOSUID);
    assert_int_equal(m.propagation, MS_PRIVATE);
    assert_true(m.propagation_rec);
    assert_true(m.rec_attrs && (m.rec_flags & MS_NODEV));
    assert_string_equal(m.data, "mode=755,size=1k");
    free(m.data);
    json_decref(opts);
}

static void test_ids_and_default_spec(void **state)
{
    assert_true(oci_id_valid("abc-1.2_3+x"));
    assert_false(oci_id_valid(".."));
    assert_false(oci_id_valid("a/b"));
    assert_false(oci_id_valid(""));
    json_t *spec = oci_config_default(false, 0, 0);
    struct oci_config *c = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(oci_config_from_json(spec, NULL, "default", &c, &err), 0);
    assert_true(c->process.rlimits[0].hard <= 20000);
    oci_runtime_config_free(c);
    json_decref(spec);
}

static void test_state_dir(void **state)
{
    char tmpl[] = "/tmp/berth-unit-state-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    struct oci_state_dir *d = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(oci_state_dir_create(tmpl, "c1", &d, &err), 0);
    json_t *s = json_pack("{s:s}", "id", "c1");
    assert_int_equal(oci_state_write(d, s, &err), 0);
    json_decref(s);
    struct oci_state_dir *d2 = NULL;
    assert_int_equal(oci_state_dir_create(tmpl, "c1", &d2, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "already exists"));
    oci_state_dir_free(d);
    berth_error_clear(&err);
    assert_int_equal(oci_state_dir_open(tmpl, "c1", false, &d, &err), 0);
    json_t *back = NULL;
    assert_int_equal(oci_state_read(d, &back, &err), 0);
    assert_string_equal(json_string_value(json_object_get(back, "id")), "c1");
    json_decref(back);
    assert_int_equal(oci_state_dir_remove(d, &err), 0);
    assert_int_equal(oci_state_dir_open(tmpl, "c1", false, &d, &err), -ENOENT);
    rmdir(tmpl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_minimal),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_mount_options),
        cmocka_unit_test(test_ids_and_default_spec),
        cmocka_unit_test(test_state_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
