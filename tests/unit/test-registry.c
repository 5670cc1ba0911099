#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "registry/auth.h"
#include "registry/base64.h"
#include "registry/client-internal.h"
#include "registry/manifest.h"
#include "registry/reference.h"
#include "registry/route.h"

static void test_names_and_tags(void **state)
{
    assert_true(registry_name_is_valid("library/busybox"));
    assert_true(registry_name_is_valid("a.b_c__d---e/f0"));
    assert_false(registry_name_is_valid("Upper"));
    assert_false(registry_name_is_valid("a//b"));
    assert_false(registry_name_is_valid("a___b"));
    assert_false(registry_name_is_valid("-a"));
    assert_false(registry_name_is_valid("a/"));
    assert_false(registry_name_is_valid(""));
    assert_true(registry_tag_is_valid("v1.0-rc_1"));
    assert_false(registry_tag_is_valid(".v1"));
    assert_false(registry_tag_is_valid("a:b"));
}

static void test_ref_parse(void **state)
{
    struct registry_ref r;
    assert_int_equal(registry_ref_parse("localhost:5000/a/b:v1", &r, NULL), 0);
    assert_string_equal(r.host, "localhost:5000");
    assert_string_equal(r.name, "a/b");
    assert_string_equal(r.tag, "v1");
    assert_null(r.digest);
    registry_ref_clear(&r);
    assert_int_equal(registry_ref_parse("busybox", &r, NULL), 0);
    assert_string_equal(r.host, "docker.io");
    assert_string_equal(r.name, "library/busybox");
    assert_string_equal(r.tag, "latest");
    registry_ref_clear(&r);
    const char *d = "sha256:0123456789012345678901234567890123456789012345678901234567890123";
    char s[200];
    snprintf(s, sizeof(s), "127.0.0.1:5000/x@%s", d);
    assert_int_equal(registry_ref_parse(s, &r, NULL), 0);
    assert_null(r.tag);
    assert_string_equal(registry_ref_target(&r), d);
    registry_ref_clear(&r);
    struct berth_error err = { 0 };
    assert_int_equal(registry_ref_parse("host.io/Bad", &r, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not a valid repository name"));
}

static void test_routes(void **state)
{
    struct registry_route rt;
    registry_route_parse("/v2/", &rt);
    assert_int_equal(rt.ep, REG_EP_BASE);
    registry_route_parse("/v2/a/b/manifests/latest", &rt);
    assert_int_equal(rt.ep, REG_EP_MANIFEST);
    assert_string_equal(rt.name, "a/b");
    assert_string_equal(rt.ref, "latest");
    registry_route_parse("/v2/a/blobs/b/blobs/sha256:x", &rt);
    assert_int_equal(rt.ep, REG_EP_BLOB);
    assert_string_equal(rt.name, "a/blobs/b");
    registry_route_parse("/v2/a/blobs/uploads/", &rt);
    assert_int_equal(rt.ep, REG_EP_UPLOAD_START);
    assert_string_equal(rt.name, "a");
    registry_route_parse("/v2/a/blobs/uploads", &rt);
    assert_int_equal(rt.ep, REG_EP_UPLOAD_START);
    registry_route_parse("/v2/a/b/blobs/uploads/abc", &rt);
    assert_int_equal(rt.ep, REG_EP_UPLOAD);
    assert_string_equal(rt.name, "a/b");
    assert_string_equal(rt.ref, "abc");
    registry_route_parse("/v2/a/tags/list", &rt);
    assert_int_equal(rt.ep, REG_EP_TAGS);
    registry_route_parse("/v2/a/referrers/sha256:x", &rt);
    assert_int_equal(rt.ep, REG_EP_REFERRERS);
    registry_route_parse("/v2/manifests/x", &rt);
    assert_int_equal(rt.ep, REG_EP_INVALID);
    registry_route_parse("/other", &rt);
    assert_int_equal(rt.ep, REG_EP_INVALID);
}

static void test_ranges(void **state)
{
    uint64_t a, b;
    assert_true(registry_parse_content_range("0-99", &a, &b));
    assert_true(a == 0 && b == 99);
    assert_true(registry_parse_content_range("bytes 100-199/*", &a, &b));
    assert_true(a == 100 && b == 199);
    assert_false(registry_parse_content_range("5-4", &a, &b));
    assert_false(registry_parse_content_range("1-", &a, &b));
    assert_false(registry_parse_content_range("99999999999999999999-1", &a, &b));
    assert_int_equal(registry_parse_range("bytes=10-", 100, &a, &b), 1);
    assert_true(a == 10 && b == 99);
    assert_int_equal(registry_parse_range("bytes=-10", 100, &a, &b), 1);
    assert_true(a == 90 && b == 99);
    assert_int_equal(registry_parse_range("bytes=0-1000", 100, &a, &b), 1);
    assert_true(b == 99);
    assert_int_equal(registry_parse_range("bytes=100-", 100, &a, &b), 0);
    assert_int_equal(registry_parse_range("bytes=1-2,4-5", 100, &a, &b), -EINVAL);
}

static void test_base64_and_tokens(void **state)
{
    char *e = base64_encode("alice:s3cret", 12, false);
    assert_string_equal(e, "YWxpY2U6czNjcmV0");
    size_t n;
    char *d = base64_decode(e, &n);
    assert_string_equal(d, "alice:s3cret");
    free(d);
    free(e);
    char *u = NULL, *p = NULL;
    assert_int_equal(registry_parse_basic("Basic YWxpY2U6czNjcmV0", &u, &p), 0);
    assert_string_equal(u, "alice");
    assert_string_equal(p, "s3cret");
    free(u);
    free(p);
    assert_int_equal(registry_parse_basic("Basic !!!", &u, &p), -EINVAL);

    struct registry_token_key k;
    assert_int_equal(registry_token_key_init(&k), 0);
    char *t = NULL;
    assert_int_equal(registry_token_issue(&k, "alice", "repository:a/b:pull,push repository:c:pull", 60, &t), 0);
    assert_true(registry_token_check(&k, t, "a/b", "push"));
    assert_true(registry_token_check(&k, t, "c", "pull"));
    assert_false(registry_token_check(&k, t, "c", "push"));
    assert_false(registry_token_check(&k, t, "a", "pull"));
    t[strlen(t) - 2] ^= 1;   /* tampered signature */
    assert_false(registry_token_check(&k, t, "a/b", "pull"));
    free(t);
    assert_int_equal(registry_token_issue(&k, "bob", "repository:x:*", -10, &t), 0);
    assert_false(registry_token_check(&k, t, "x", "pull"));   /* expired */
    free(t);
}

/* A retried request whose answer has no body must not report the previous attempt's error. */
static void test_retry_forgets_error_body(void **state)
{
    (void) state;
    struct http_req r = { .status = 503 };
    const char *body = "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"try later\"}]}";
    r.out = strdup(body);
    assert_non_null(r.out);
    r.out_len = r.out_cap = strlen(body);
    char buf[128];
    assert_string_equal(http_error_text(&r, buf, sizeof(buf)), "HTTP 503 UNAVAILABLE: try later");
    http_req_reset_response(&r);
    r.status = 500;
    assert_int_equal(r.out_len, 0);
    assert_string_equal(http_error_text(&r, buf, sizeof(buf)), "HTTP 500");
    http_req_clear(&r);
}

static void test_manifest_parse(void **state)
{
    const char *m = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":\"application/"
                    "vnd.oci.image.config.v1+json\",\"digest\":\"sha256:0000000000000000000000000000000000000000000000"
                    "000000000000000000\",\"size\":2},\"layers\":[],\"subject\":{\"mediaType\":\"x\",\"digest\":\"sha"
                    "256:1111111111111111111111111111111111111111111111111111111111111111\",\"size\":3}}";
    struct registry_manifest *man = NULL;
    assert_int_equal(manifest_parse(m, strlen(m), MT_OCI_MANIFEST "; charset=utf-8", &man, NULL), 0);
    assert_int_equal(man->n_refs, 1);
    assert_false(man->is_index);
    assert_string_equal(man->subject, "sha256:1111111111111111111111111111111111111111111111111111111111111111");
    assert_string_equal(man->artifact_type, "application/vnd.oci.image.config.v1+json");
    manifest_free(man);
    struct berth_error err = { 0 };
    assert_int_equal(manifest_parse(m, strlen(m), MT_DOCKER_MANIFEST, &man, &err), -EINVAL);
    const char *bad = "{\"schemaVersion\":2,\"config\":{\"digest\":\"md5:1\",\"size\":1}}";
    assert_true(manifest_parse(bad, strlen(bad), NULL, &man, NULL) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_tags),
        cmocka_unit_test(test_ref_parse),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_base64_and_tokens),
        cmocka_unit_test(test_manifest_parse),
        cmocka_unit_test(test_retry_forgets_error_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
