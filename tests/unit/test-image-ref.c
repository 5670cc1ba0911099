#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "image/reference.h"

static void check(const char *in, const char *full)
{
    struct image_ref *ref = NULL;
    struct berth_error err = { 0 };
    int r = image_ref_parse(in, &ref, &err);
    if (r < 0)
        fail_msg("%s: %s", in, err.msg);
    _cleanup_free_ char *s = image_ref_string(ref);
    assert_string_equal(s, full);
    image_ref_free(ref);
}

static void check_bad(const char *in, const char *msg_part)
{
    struct image_ref *ref = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(image_ref_parse(in, &ref, &err), -EINVAL);
    assert_null(ref);
    if (!strstr(err.msg, msg_part))
        fail_msg("%s: message '%s' lacks '%s'", in, err.msg, msg_part);
}

static void test_normalisation(void **state)
{
    check("busybox", "docker.io/library/busybox:latest");
    check("busybox:1.36", "docker.io/library/busybox:1.36");
    check("library/busybox", "docker.io/library/busybox:latest");
    check("docker.io/busybox", "docker.io/library/busybox:latest");
    check("index.docker.io/busybox", "docker.io/library/busybox:latest");
    check("user/app:v1", "docker.io/user/app:v1");
    check("quay.io/podman/stable", "quay.io/podman/stable:latest");
    check("localhost/app", "localhost/app:latest");
    check("localhost:5000/app:2", "localhost:5000/app:2");
    check("127.0.0.1:5000/a/b/c:x", "127.0.0.1:5000/a/b/c:x");
    check("my-reg.example.com/a_b__c/d-e.f:TAG_1.2-3", "my-reg.example.com/a_b__c/d-e.f:TAG_1.2-3");
    check("busybox@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
          "docker.io/library/busybox@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    check("busybox:1@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
          "docker.io/library/busybox:1@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
}

static void test_names_and_tags(void **state)
{
    struct image_ref *ref = NULL;
    assert_int_equal(image_ref_parse("localhost:5000/x", &ref, NULL), 0);
    assert_string_equal(ref->domain, "localhost:5000");
    assert_string_equal(ref->path, "x");
    assert_string_equal(ref->tag, "latest");
    _cleanup_free_ char *name = image_ref_name(ref);
    assert_string_equal(name, "localhost:5000/x");
    image_ref_free(ref);
    assert_int_equal(image_ref_parse("a@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", &ref, NULL), 0);
    assert_null(ref->tag);
    assert_null(image_ref_tagged(ref));
    image_ref_free(ref);
    assert_true(image_tag_is_valid("v1.2_3-rc"));
    assert_false(image_tag_is_valid(".hidden"));
    assert_false(image_tag_is_valid("-x"));
    char long_tag[140];
    memset(long_tag, 'a', 129);
    long_tag[129] = '\0';
    assert_false(image_tag_is_valid(long_tag));
}

static void test_invalid(void **state)
{
    check_bad("", "empty");
    check_bad("Busybox", "lowercase");
    check_bad("busybox:", "invalid tag");
    check_bad("busybox:-x", "invalid tag");
    check_bad("bus..box", "invalid name component");
    check_bad("busybox-", "invalid name component");
    check_bad("a//b", "invalid name component");
    check_bad("busybox@sha256:abc", "not a sha256 digest");
    check_bad("busybox@md5:d41d8cd98f00b204e9800998ecf8427e", "not a sha256 digest");
    check_bad("ex ample.com/x", "invalid");
    check_bad("host:port/x", "invalid registry");
    check_bad(":tag", "missing repository");
    char big[300];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    check_bad(big, "longer than");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_names_and_tags),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
