#include "image/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/strv.h"
#include "image/blobstore.h"

bool oci_media_is_manifest(const char *mt)
{
    return mt && (!strcmp(mt, MEDIA_OCI_MANIFEST) || !strcmp(mt, MEDIA_DOCKER_MANIFEST));
}

bool oci_media_is_index(const char *mt)
{
    return mt && (!strcmp(mt, MEDIA_OCI_INDEX) || !strcmp(mt, MEDIA_DOCKER_LIST));
}

int oci_layer_compression(const char *mt, enum layer_compression *ret)
{
    static const struct {
        const char *type;
        enum layer_compression c;
    } table[] = {
        { MEDIA_OCI_LAYER, LAYER_UNCOMPRESSED },
        { MEDIA_OCI_LAYER_GZIP, LAYER_GZIP },
        { MEDIA_OCI_LAYER_ZSTD, LAYER_ZSTD },
        { "application/vnd.oci.image.layer.nondistributable.v1.tar", LAYER_UNCOMPRESSED },
        { "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", LAYER_GZIP },
        { "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", LAYER_ZSTD },
        { MEDIA_DOCKER_LAYER, LAYER_GZIP },
        { "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", LAYER_GZIP },
        { "application/vnd.docker.image.rootfs.diff.tar", LAYER_UNCOMPRESSED },
    };
    for (size_t i = 0; mt && i < ARRAY_SIZE(table); i++)
        if (!strcmp(mt, table[i].type)) {
            *ret = table[i].c;
            return 0;
        }
    return -EPROTONOSUPPORT;
}

const char *oci_host_architecture(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "386";
#elif defined(__riscv) && __riscv_xlen == 64
    return "riscv64";
#elif defined(__s390x__)
    return "s390x";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return "ppc64le";
#else
    return "unknown";
#endif
}

void oci_descriptor_clear(struct oci_descriptor *d)
{
    free(d->media_type);
    free(d->digest);
    free(d->os);
    free(d->architecture);
    free(d->variant);
    free(d->ref_name);
    free(d->image_name);
    memset(d, 0, sizeof(*d));
}

static int dup_opt(json_t *obj, const char *key, const char *what, char **ret, struct berth_error *err)
{
    const char *s = NULL;
    int r = json_opt_string(obj, key, what, &s, err);
    if (r < 0 || !s)
        return r;
    *ret = strdup(s);
    return *ret ? 0 : berth_error_set(err, -ENOMEM, "out of memory");
}

static int descriptor_parse(json_t *o, const char *what, struct oci_descriptor *d, struct berth_error *err)
{
    if (!json_is_object(o))
        return berth_error_set(err, -EINVAL, "%s: must be an object", what);
    int r = dup_opt(o, "mediaType", what, &d->media_type, err);
    if (r == 0)
        r = dup_opt(o, "digest", what, &d->digest, err);
    if (r < 0)
        return r;
    if (!d->media_type)
        return berth_error_set(err, -EINVAL, "%s.mediaType: missing", what);
    if (!d->digest)
        return berth_error_set(err, -EINVAL, "%s.digest: missing", what);
    if (!digest_is_valid(d->digest))
        return berth_error_set(err, -EINVAL, "%s.digest: '%s' is not a supported digest (sha256 only)", what, d->digest);
    json_t *size = json_object_get(o, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return berth_error_set(err, -EINVAL, "%s.size: missing or not a non-negative integer", what);
    d->size = (uint64_t) json_integer_value(size);
    json_t *platform = NULL;
    r = json_opt_object(o, "platform", what, &platform, err);
    if (r == 0 && platform) {
        r = dup_opt(platform, "os", what, &d->os, err);
        if (r == 0)
            r = dup_opt(platform, "architecture", what, &d->architecture, err);
        if (r == 0)
            r = dup_opt(platform, "variant", what, &d->variant, err);
    }
    json_t *ann = NULL;
    if (r == 0)
        r = json_opt_object(o, "annotations", what, &ann, err);
    if (r == 0 && ann)
        r = dup_opt(ann, ANNOTATION_REF_NAME, what, &d->ref_name, err);
    if (r == 0 && ann)
        r = dup_opt(ann, ANNOTATION_CONTAINERD_NAME, what, &d->image_name, err);
    return r;
}

int oci_document_kind(const char *data, size_t len, const char *what, enum oci_kind *ret, struct berth_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    int r = json_load_buffer(data, len, what, &doc, err);
    if (r < 0)
        return r;
    if (!json_is_object(doc))
        return berth_error_set(err, -EINVAL, "%s: not a JSON object", what);
    const char *mt = NULL;
    r = json_opt_string(doc, "mediaType", what, &mt, err);
    if (r < 0)
        return r;
    if (mt && oci_media_is_manifest(mt))
        *ret = OCI_KIND_MANIFEST;
    else if (mt && oci_media_is_index(mt))
        *ret = OCI_KIND_INDEX;
    else if (mt)
        return berth_error_set(err, -EPROTONOSUPPORT, "%s: unsupported media type '%s'", what, mt);
    else if (json_object_get(doc, "manifests"))
        *ret = OCI_KIND_INDEX;
    else if (json_object_get(doc, "layers") && json_object_get(doc, "config"))
        *ret = OCI_KIND_MANIFEST;
    else
        return berth_error_set(err, -EINVAL, "%s: neither an image manifest nor an index", what);
    return 0;
}

static int check_schema(json_t *doc, const char *what, struct berth_error *err)
{
    json_t *v = json_object_get(doc, "schemaVersion");
    if (!json_is_integer(v) || json_integer_value(v) != 2)
        return berth_error_set(err, -EPROTONOSUPPORT, "%s.schemaVersion: must be 2 (Docker schema 1 is not supported)",
                               what);
    return 0;
}

void oci_manifest_free(struct oci_manifest *m)
{
    if (!m)
        return;
    free(m->media_type);
    oci_descriptor_clear(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        oci_descriptor_clear(&m->layers[i]);
    free(m->layers);
    free(m);
}

/* The part manifests and indexes share: a JSON object of at most OCI_MANIFEST_MAX bytes with
 * schemaVersion 2, and its mediaType (default_mt when absent) of the expected kind. */
static int document_load(const char *data, size_t len, const char *what, const char *default_mt,
                         bool (*is_kind)(const char *mt), const char *kind, json_t **ret_doc, char **ret_mt,
                         struct berth_error *err)
{
    if (len > OCI_MANIFEST_MAX)
        return berth_error_set(err, -EFBIG, "%s: larger than %u bytes", what, OCI_MANIFEST_MAX);
    _cleanup_json_ json_t *doc = NULL;
    int r = json_load_buffer(data, len, what, &doc, err);
    if (r < 0)
        return r;
    if (!json_is_object(doc))
        return berth_error_set(err, -EINVAL, "%s: not a JSON object", what);
    r = check_schema(doc, what, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *mt = NULL;
    r = dup_opt(doc, "mediaType", what, &mt, err);
    if (r < 0)
        return r;
    if (!mt && !(mt = strdup(default_mt)))
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (!is_kind(mt))
        return berth_error_set(err, -EPROTONOSUPPORT, "%s.mediaType: '%s' is not an %s", what, mt, kind);
    *ret_doc = TAKE_PTR(doc);
    *ret_mt = TAKE_PTR(mt);
    return 0;
}

/* The descriptors of doc's array key (at most max); *ret_n counts the entries to clear, also
 * on failure. */
static int descriptor_array_parse(json_t *doc, const char *key, const char *what, size_t max, const char *unit,
                                  struct oci_descriptor **ret, size_t *ret_n, struct berth_error *err)
{
    json_t *list = json_object_get(doc, key);
    if (!json_is_array(list))
        return berth_error_set(err, -EINVAL, "%s.%s: missing or not an array", what, key);
    size_t n = json_array_size(list);
    if (n > max)
        return berth_error_set(err, -E2BIG, "%s.%s: %zu %s, more than the limit of %zu", what, key, n, unit, max);
    *ret = calloc(n ? n : 1, sizeof(**ret));
    if (!*ret)
        return berth_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char sub[256];
        snprintf(sub, sizeof(sub), "%s.%s[%zu]", what, key, i);
        *ret_n = i + 1;
        int r = descriptor_parse(json_array_get(list, i), sub, &(*ret)[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

int oci_manifest_parse(const char *data, size_t len, const char *what, struct oci_manifest **ret,
                       struct berth_error *err)
{
    _cleanup_(oci_manifest_freep) struct oci_manifest *m = calloc(1, sizeof(*m));
    if (!m)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_json_ json_t *doc = NULL;
    int r = document_load(data, len, what, MEDIA_OCI_MANIFEST, oci_media_is_manifest, "image manifest", &doc,
                          &m->media_type, err);
    if (r < 0)
        return r;
    char sub[256];
    snprintf(sub, sizeof(sub), "%s.config", what);
    r = descriptor_parse(json_object_get(doc, "config"), sub, &m->config, err);
    if (r < 0)
        return r;
    if (strcmp(m->config.media_type, MEDIA_OCI_CONFIG) && strcmp(m->config.media_type, MEDIA_DOCKER_CONFIG))
        return berth_error_set(err, -EPROTONOSUPPORT, "%s.mediaType: '%s' is not an image config (an artifact?)", sub,
                               m->config.media_type);
    r = descriptor_array_parse(doc, "layers", what, OCI_LAYERS_MAX, "layers", &m->layers, &m->n_layers, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < m->n_layers; i++) {
        enum layer_compression c;
        if (oci_layer_compression(m->layers[i].media_type, &c) < 0)
            return berth_error_set(err, -EPROTONOSUPPORT, "%s.layers[%zu].mediaType: unsupported layer type '%s'",
                                   what, i, m->layers[i].media_type);
    }
    *ret = TAKE_PTR(m);
    return 0;
}

void oci_index_free(struct oci_index *idx)
{
    if (!idx)
        return;
    free(idx->media_type);
    for (size_t i = 0; i < idx->n_manifests; i++)
        oci_descriptor_clear(&idx->manifests[i]);
    free(idx->manifests);
    free(idx);
}

int oci_index_parse(const char *data, size_t len, const char *what, struct oci_index **ret, struct berth_error *err)
{
    _cleanup_(oci_index_freep) struct oci_index *idx = calloc(1, sizeof(*idx));
    if (!idx)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_json_ json_t *doc = NULL;
    int r = document_load(data, len, what, MEDIA_OCI_INDEX, oci_media_is_index, "image index", &doc,
                          &idx->media_type, err);
    if (r < 0)
        return r;
    r = descriptor_array_parse(doc, "manifests", what, OCI_INDEX_MAX, "entries", &idx->manifests, &idx->n_manifests,
                               err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(idx);
    return 0;
}

void oci_config_free(struct oci_image_config *c)
{
    if (!c)
        return;
    json_decref(c->json);
    free(c->os);
    free(c->architecture);
    free(c->created);
    strv_free(c->diff_ids);
    free(c);
}

int oci_config_parse(const char *data, size_t len, const char *what, struct oci_image_config **ret,
                     struct berth_error *err)
{
    if (len > OCI_MANIFEST_MAX)
        return berth_error_set(err, -EFBIG, "%s: larger than %u bytes", what, OCI_MANIFEST_MAX);
    _cleanup_(oci_config_freep) struct oci_image_config *c = calloc(1, sizeof(*c));
    if (!c)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = json_load_buffer(data, len, what, &c->json, err);
    if (r < 0)
        return r;
    if (!json_is_object(c->json))
        return berth_error_set(err, -EINVAL, "%s: not a JSON object", what);
    r = dup_opt(c->json, "os", what, &c->os, err);
    if (r == 0)
        r = dup_opt(c->json, "architecture", what, &c->architecture, err);
    if (r == 0)
        r = dup_opt(c->json, "created", what, &c->created, err);
    json_t *cfg = NULL;
    if (r == 0)
        r = json_opt_object(c->json, "config", what, &cfg, err);
    if (r < 0)
        return r;
    json_t *rootfs = json_object_get(c->json, "rootfs");
    if (!json_is_object(rootfs))
        return berth_error_set(err, -EINVAL, "%s.rootfs: missing or not an object", what);
    json_t *ids = json_object_get(rootfs, "diff_ids");
    if (!json_is_array(ids))
        return berth_error_set(err, -EINVAL, "%s.rootfs.diff_ids: missing or not an array", what);
    size_t n = json_array_size(ids);
    if (n > OCI_LAYERS_MAX)
        return berth_error_set(err, -E2BIG, "%s.rootfs.diff_ids: more than %d layers", what, OCI_LAYERS_MAX);
    c->diff_ids = calloc(n + 1, sizeof(char *));
    if (!c->diff_ids)
        return berth_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(ids, i));
        if (!s || !digest_is_valid(s))
            return berth_error_set(err, -EINVAL, "%s.rootfs.diff_ids[%zu]: not a sha256 digest", what, i);
        if (!(c->diff_ids[i] = strdup(s)))
            return berth_error_set(err, -ENOMEM, "out of memory");
        c->n_diff_ids = i + 1;
    }
    *ret = TAKE_PTR(c);
    return 0;
}

int oci_index_select(const struct oci_index *idx, const char *os, const char *architecture,
                     const struct oci_descriptor **ret, struct berth_error *err)
{
    if (!os)
        os = "linux";
    if (!architecture)
        architecture = oci_host_architecture();
    const struct oci_descriptor *untyped = NULL;
    size_t n_manifests = 0;
    for (size_t i = 0; i < idx->n_manifests; i++) {
        const struct oci_descriptor *d = &idx->manifests[i];
        if (!oci_media_is_manifest(d->media_type) && !oci_media_is_index(d->media_type))
            continue; /* attestations and other artifacts */
        n_manifests++;
        if (!d->os && !d->architecture) {
            untyped = d;
            continue;
        }
        if (d->os && !strcmp(d->os, os) && d->architecture && !strcmp(d->architecture, architecture)) {
            *ret = d;
            return 0;
        }
    }
    if (untyped && n_manifests == 1) {
        *ret = untyped;
        return 0;
    }
    char list[512] = "";
    size_t off = 0;
    for (size_t i = 0; i < idx->n_manifests && off < sizeof(list) - 1; i++) {
        const struct oci_descriptor *d = &idx->manifests[i];
        if (d->os || d->architecture) {
            int n = snprintf(list + off, sizeof(list) - off, "%s%s/%s", off ? ", " : "", d->os ? d->os : "?",
                             d->architecture ? d->architecture : "?");
            if (n < 0)
                break;
            off += (size_t) n;
        }
    }
    if (off >= sizeof(list))
        off = sizeof(list) - 1;
    return berth_error_set(err, -ENOENT, "no image for %s/%s in the index (it has: %s)", os, architecture,
                           off ? list : "no platform-tagged manifests");
}

json_t *oci_descriptor_to_json(const struct oci_descriptor *d)
{
    json_t *o = json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type, "digest", d->digest, "size",
                          (json_int_t) d->size);
    if (o && d->ref_name)
        json_object_set_new(o, "annotations", json_pack("{s:s}", ANNOTATION_REF_NAME, d->ref_name));
    return o;
}
