/* berth run's seccomp profiles: the default deny-list and its capability gates, Docker-format
 * profiles resolved to OCI, --security-opt parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "containers/seccomp-profile.h"
#include "runtime/security.h"

static bool denies(json_t *profile, const char *name)
{
    size_t i, k;
    json_t *rule, *n;
    json_array_foreach(json_object_get(profile, "syscalls"), i, rule) {
        json_array_foreach(json_object_get(rule, "names"), k, n) {
            if (!strcmp(json_string_value(n), name))
                return true;
        }
    }
    return false;
}

static void test_default_profile(void **state)
{
    json_t *none = json_pack("[s, s]", "CAP_CHOWN", "CAP_KILL");
    json_t *p = ctr_seccomp_default(none);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "defaultAction")), "SCMP_ACT_ALLOW");
    const char *always[] = { "kexec_load", "init_module", "finit_module", "delete_module", "mount", "umount2",
                             "unshare", "setns", "pivot_root", "keyctl", "add_key", "reboot", "swapon", "acct",
                             "open_by_handle_at", "bpf", "perf_event_open", "clock_settime", "clone", "clone3" };
    for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
        assert_true(denies(p, always[i]));
    assert_false(denies(p, "ptrace"));
    assert_false(denies(p, "read"));
    struct berth_error err = { 0 };
    assert_int_equal(seccomp_check_spec(p, &err), 0); /* libseccomp accepts what we generate */
    json_decref(p);

    json_t *admin = json_pack("[s, s, s]", "CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_TIME");
    p = ctr_seccomp_default(admin);
    assert_false(denies(p, "mount"));
    assert_false(denies(p, "unshare"));
    assert_false(denies(p, "clone"));
    assert_false(denies(p, "init_module"));
    assert_false(denies(p, "settimeofday"));
    assert_true(denies(p, "kexec_load"));
    assert_true(denies(p, "keyctl"));
    assert_int_equal(seccomp_check_spec(p, &err), 0);
    json_decref(p);
    json_decref(none);
    json_decref(admin);
}

static void test_docker_profile_resolved(void **state)
{
    json_t *spec = json_pack(
        "{s:{s:s, s:[{s:s, s:[s]}, {s:s, s:[]}], s:[{s:s, s:s}, {s:[s], s:s, s:{s:[s]}}, {s:[s], s:s, s:{s:[s]}}]}}",
        "seccomp", "defaultAction", "SCMP_ACT_ALLOW", "archMap", "architecture", "SCMP_ARCH_X86_64",
        "subArchitectures", "SCMP_ARCH_X86", "architecture", "SCMP_ARCH_AARCH64", "subArchitectures", "syscalls",
        "name", "mkdir", "action", "SCMP_ACT_ERRNO", "names", "rmdir", "action", "SCMP_ACT_ERRNO", "includes",
        "caps", "CAP_SYS_ADMIN", "names", "chmod", "action", "SCMP_ACT_ERRNO", "excludes", "caps", "CAP_SYS_ADMIN");
    json_t *caps = json_pack("[s]", "CAP_CHOWN");
    json_t *oci = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(ctr_seccomp_config(spec, caps, &oci, &err), 0);
    assert_non_null(oci);
    assert_null(json_object_get(oci, "archMap"));
    assert_true(denies(oci, "mkdir"));
    assert_false(denies(oci, "rmdir"));
    assert_true(denies(oci, "chmod"));
#if defined(__x86_64__)
    assert_int_equal(json_array_size(json_object_get(oci, "architectures")), 2);
#endif
    json_decref(oci);
    json_decref(spec);

    spec = json_pack("{s:s}", "seccomp", "unconfined");
    oci = (json_t *) 1;
    assert_int_equal(ctr_seccomp_config(spec, caps, &oci, &err), 0);
    assert_null(oci);
    json_decref(spec);
    json_decref(caps);
}

static void test_security_opt(void **state)
{
    json_t *spec = json_object();
    struct berth_error err = { 0 };
    assert_int_equal(ctr_security_opt(spec, "seccomp=unconfined", &err), 0);
    assert_string_equal(json_string_value(json_object_get(spec, "seccomp")), "unconfined");
    assert_int_equal(ctr_security_opt(spec, "no-new-privileges", &err), 0);
    assert_int_equal(ctr_security_opt(spec, "label=disable", &err), -EINVAL);
    assert_non_null(strstr(berth_error_message(&err), "label=disable"));
    berth_error_clear(&err);
    assert_true(ctr_security_opt(spec, "seccomp=/nonexistent/p.json", &err) < 0);
    assert_non_null(strstr(berth_error_message(&err), "/nonexistent/p.json"));
    berth_error_clear(&err);
    json_decref(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_profile),
        cmocka_unit_test(test_docker_profile_resolved),
        cmocka_unit_test(test_security_opt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
