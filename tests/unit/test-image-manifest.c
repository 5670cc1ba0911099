#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image/defaults.h"
#include "image/manifest.h"

#define D1 "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define D2 "sha256:486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"

static void test_oci_and_docker_manifests(void **state)
{
    const char *oci = "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"config\":{\"mediaType\":\""
                      MEDIA_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":10},\"layers\":[{\"mediaType\":\""
                      MEDIA_OCI_LAYER_GZIP "\",\"digest\":\"" D2 "\",\"size\":20}]}";
    struct oci_manifest *m = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(oci_manifest_parse(oci, strlen(oci), "m", &m, &err), 0);
    assert_string_equal(m->config.digest, D1);
    assert_int_equal(m->n_layers, 1);
    assert_int_equal(m->layers[0].size, 20);
    enum layer_compression c;
    assert_int_equal(oci_layer_compression(m->layers[0].media_type, &c), 0);
    assert_int_equal(c, LAYER_GZIP);
    oci_manifest_free(m);

    const char *docker = "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_DOCKER_MANIFEST "\",\"config\":{\"mediaType\":\""
                         MEDIA_DOCKER_CONFIG "\",\"digest\":\"" D1 "\",\"size\":10},\"layers\":[{\"mediaType\":\""
                         MEDIA_DOCKER_LAYER "\",\"digest\":\"" D2 "\",\"size\":20}]}";
    enum oci_kind kind;
    assert_int_equal(oci_document_kind(docker, strlen(docker), "d", &kind, &err), 0);
    assert_int_equal(kind, OCI_KIND_MANIFEST);
    assert_int_equal(oci_manifest_parse(docker, strlen(docker), "d", &m, &err), 0);
    assert_string_equal(m->media_type, MEDIA_DOCKER_MANIFEST);
    oci_manifest_free(m);
}

static void expect_bad(const char *json, int code, const char *part)
{
    struct oci_manifest *m = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(oci_manifest_parse(json, strlen(json), "m", &m, &err), code);
    assert_null(m);
    if (!strstr(err.msg, part))
        fail_msg("'%s' lacks '%s'", err.msg, part);
}

static void test_bad_manifests(void **state)
{
    expect_bad("[]", -EINVAL, "not a JSON object");
    expect_bad("{\"schemaVersion\":1}", -EPROTONOSUPPORT, "schema 1");
    expect_bad("{\"schemaVersion\":2,\"layers\":[]}", -EINVAL, "m.config: must be an object");
    expect_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG "\",\"digest\":\"sha256:xyz\",\"size\":1},"
               "\"layers\":[]}", -EINVAL, "m.config.digest");
    expect_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":-1},"
               "\"layers\":[]}", -EINVAL, "m.config.size");
    expect_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":1},"
               "\"layers\":[{\"mediaType\":\"text/plain\",\"digest\":\"" D2 "\",\"size\":1}]}", -EPROTONOSUPPORT,
               "unsupported layer type");
    expect_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/x-artifact\",\"digest\":\"" D1 "\",\"size\":1},"
               "\"layers\":[]}", -EPROTONOSUPPORT, "not an image config");
    expect_bad("{\"schemaVersion\":2,\"schemaVersion\":2}", -EINVAL, "duplicate");
}

static void test_index_platform_selection(void **state)
{
    const char *idx_json = "{\"schemaVersion\":2,\"manifests\":["
                           "{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":1,"
                           "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
                           "{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":2,"
                           "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"},"
                           "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}";
    struct oci_index *idx = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(oci_index_parse(idx_json, strlen(idx_json), "i", &idx, &err), 0);
    const struct oci_descriptor *d = NULL;
    assert_int_equal(oci_index_select(idx, "linux", "amd64", &d, &err), 0);
    assert_string_equal(d->digest, D2);
    assert_string_equal(d->ref_name, "v1");
    assert_int_equal(oci_index_select(idx, "linux", "s390x", &d, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "linux/arm64, linux/amd64"));
    oci_index_free(idx);
}

static void test_config_and_defaults(void **state)
{
    const char *cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"A=1\"],"
                      "\"Entrypoint\":[\"/init\"],\"Cmd\":[\"-v\"],\"WorkingDir\":\"/srv\",\"User\":\"65534\","
                      "\"ExposedPorts\":{\"8080/tcp\":{},\"53/udp\":{}},\"Labels\":{\"b\":\"2\",\"a\":\"1\"}},"
                      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\"]}}";
    struct oci_image_config *c = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(oci_config_parse(cfg, strlen(cfg), "c", &c, &err), 0);
    assert_int_equal(c->n_diff_ids, 1);
    struct image_defaults d;
    assert_int_equal(image_defaults_from_config(c->json, &d, &err), 0);
    assert_string_equal(d.env[0], "A=1");
    assert_string_equal(d.env[1], IMAGE_DEFAULT_PATH);
    assert_string_equal(d.working_dir, "/srv");
    assert_string_equal(d.user, "65534");
    assert_string_equal(d.exposed_ports[0], "53/udp");
    assert_string_equal(d.exposed_ports[1], "8080/tcp");
    assert_string_equal(d.labels[0], "a=1");
    char **argv = NULL;
    assert_int_equal(image_defaults_argv(&d, NULL, NULL, &argv, &err), 0);
    assert_string_equal(argv[0], "/init");
    assert_string_equal(argv[1], "-v");
    assert_null(argv[2]);
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
    char *ep[] = { "/bin/sh", NULL };
    char *cmd[] = { "-c", "true", NULL };
    assert_int_equal(image_defaults_argv(&d, ep, cmd, &argv, &err), 0);
    assert_string_equal(argv[0], "/bin/sh");
    assert_string_equal(argv[2], "true");
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
    char *none[] = { NULL };
    assert_int_equal(image_defaults_argv(&d, none, NULL, &argv, &err), -EINVAL);
    image_defaults_clear(&d);
    oci_config_free(c);

    const char *bad = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"nope\"]}}";
    berth_error_clear(&err);
    assert_int_equal(oci_config_parse(bad, strlen(bad), "c", &c, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "c.rootfs.diff_ids[0]"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oci_and_docker_manifests),
        cmocka_unit_test(test_bad_manifests),
        cmocka_unit_test(test_index_platform_selection),
        cmocka_unit_test(test_config_and_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
