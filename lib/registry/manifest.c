#include "registry/manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "image/blobstore.h"

bool manifest_media_type_is_index(const char *mt)
{
    return mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST));
}

bool manifest_media_type_is_known(const char *mt)
{
    return mt && (!strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST) || manifest_media_type_is_index(mt));
}

static void ref_clear(struct manifest_ref *r)
{
    free(r->media_type);
    free(r->artifact_type);
    free(r->os);
    free(r->arch);
    free(r->variant);
}

void manifest_free(struct registry_manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_refs; i++)
        ref_clear(&m->refs[i]);
    free(m->refs);
    free(m->media_type);
    free(m->artifact_type);
    json_decref(m->root);
    free(m);
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

/* A descriptor: mediaType (string), digest (valid sha256), size (>= 0). */
static int parse_descriptor(json_t *d, const char *what, enum manifest_ref_kind kind, struct manifest_ref *ret,
                            struct berth_error *err)
{
    const char *mt = NULL, *digest = NULL, *at = NULL;
    int64_t size = -1;
    json_t *platform = NULL;
    if (!json_is_object(d))
        return berth_error_set(err, -EINVAL, "%s: must be an object", what);
    int r = json_opt_string(d, "mediaType", what, &mt, err);
    if (r == 0)
        r = json_opt_string(d, "digest", what, &digest, err);
    if (r == 0)
        r = json_opt_int64(d, "size", what, &size, err);
    if (r == 0)
        r = json_opt_string(d, "artifactType", what, &at, err);
    if (r == 0)
        r = json_opt_object(d, "platform", what, &platform, err);
    if (r < 0)
        return r;
    if (!digest)
        return berth_error_set(err, -EINVAL, "%s.digest: missing", what);
    if (!digest_is_valid(digest))
        return berth_error_set(err, -EINVAL, "%s.digest: '%s' is not a supported digest (sha256 only)", what, digest);
    if (size < 0)
        return berth_error_set(err, -EINVAL, "%s.size: missing or negative", what);
    struct manifest_ref ref = { .kind = kind, .size = size };
    memcpy(ref.digest, digest, 72);
    bool oom = false;
    ref.media_type = dup_or_null(mt, &oom);
    ref.artifact_type = dup_or_null(at, &oom);
    if (platform) {
        const char *os = NULL, *arch = NULL, *variant = NULL;
        r = json_opt_string(platform, "os", what, &os, err);
        if (r == 0)
            r = json_opt_string(platform, "architecture", what, &arch, err);
        if (r == 0)
            r = json_opt_string(platform, "variant", what, &variant, err);
        if (r < 0) {
            ref_clear(&ref);
            return r;
        }
        ref.os = dup_or_null(os, &oom);
        ref.arch = dup_or_null(arch, &oom);
        ref.variant = dup_or_null(variant, &oom);
    }
    if (oom) {
        ref_clear(&ref);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    *ret = ref;
    return 0;
}

static int add_ref(struct registry_manifest *m, json_t *d, const char *what, enum manifest_ref_kind kind,
                   struct berth_error *err)
{
    if (m->n_refs >= REGISTRY_MANIFEST_MAX_REFS)
        return berth_error_set(err, -E2BIG, "manifest: more than %u descriptors", REGISTRY_MANIFEST_MAX_REFS);
    if (ARRAY_RESERVE(m->refs, m->cap_refs, m->n_refs + 1, 8) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = parse_descriptor(d, what, kind, &m->refs[m->n_refs], err);
    if (r < 0)
        return r;
    m->n_refs++;
    return 0;
}

int manifest_parse(const char *data, size_t len, const char *content_type, struct registry_manifest **ret,
                   struct berth_error *err)
{
    if (len > REGISTRY_MANIFEST_MAX)
        return berth_error_set(err, -E2BIG, "manifest: larger than %u bytes", REGISTRY_MANIFEST_MAX);
    _cleanup_(manifest_freep) struct registry_manifest *m = calloc(1, sizeof(*m));
    if (!m)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = json_load_buffer(data, len, "manifest", &m->root, err);
    if (r < 0)
        return r;
    if (!json_is_object(m->root))
        return berth_error_set(err, -EINVAL, "manifest: must be a JSON object");
    const char *mt = NULL, *at = NULL;
    int64_t schema = -1;
    json_t *config = NULL, *layers = NULL, *manifests = NULL, *subject = NULL, *annotations = NULL;
    if ((r = json_opt_string(m->root, "mediaType", "manifest", &mt, err)) < 0 ||
        (r = json_opt_int64(m->root, "schemaVersion", "manifest", &schema, err)) < 0 ||
        (r = json_opt_string(m->root, "artifactType", "manifest", &at, err)) < 0 ||
        (r = json_opt_object(m->root, "config", "manifest", &config, err)) < 0 ||
        (r = json_opt_array(m->root, "layers", "manifest", &layers, err)) < 0 ||
        (r = json_opt_array(m->root, "manifests", "manifest", &manifests, err)) < 0 ||
        (r = json_opt_object(m->root, "subject", "manifest", &subject, err)) < 0 ||
        (r = json_opt_object(m->root, "annotations", "manifest", &annotations, err)) < 0)
        return r;
    /* Parameters such as "; charset=utf-8" are not part of the media type. */
    char ct[128] = "";
    if (content_type) {
        size_t n = strcspn(content_type, "; \t");
        if (n >= sizeof(ct))
            n = sizeof(ct) - 1;
        memcpy(ct, content_type, n);
        ct[n] = '\0';
    }
    if (mt && ct[0] && strcmp(mt, ct) != 0)
        return berth_error_set(err, -EINVAL, "manifest: mediaType '%s' does not match Content-Type '%s'", mt, ct);
    if (!mt)
        mt = ct[0] ? ct : NULL;
    if (!mt) {
        /* OCI lets mediaType be omitted; guess from the shape. */
        mt = manifests ? MT_OCI_INDEX : MT_OCI_MANIFEST;
    }
    if (!manifest_media_type_is_known(mt))
        return berth_error_set(err, -EPROTONOSUPPORT, "manifest: unsupported media type '%s'", mt);
    if (schema != 2)
        return berth_error_set(err, -EINVAL, "manifest.schemaVersion: must be 2");
    m->media_type = strdup(mt);
    if (!m->media_type)
        return berth_error_set(err, -ENOMEM, "out of memory");
    m->is_index = manifest_media_type_is_index(mt);
    char what[64];
    if (m->is_index) {
        if (!manifests)
            return berth_error_set(err, -EINVAL, "manifest.manifests: missing in an index");
        size_t i;
        json_t *d;
        json_array_foreach(manifests, i, d) {
            snprintf(what, sizeof(what), "manifest.manifests[%zu]", i);
            if ((r = add_ref(m, d, what, MREF_MANIFEST, err)) < 0)
                return r;
        }
    } else {
        if (!config)
            return berth_error_set(err, -EINVAL, "manifest.config: missing");
        if ((r = add_ref(m, config, "manifest.config", MREF_CONFIG, err)) < 0)
            return r;
        if (layers) {
            size_t i;
            json_t *d;
            json_array_foreach(layers, i, d) {
                snprintf(what, sizeof(what), "manifest.layers[%zu]", i);
                if ((r = add_ref(m, d, what, MREF_LAYER, err)) < 0)
                    return r;
            }
        }
    }
    if (subject) {
        struct manifest_ref s;
        if ((r = parse_descriptor(subject, "manifest.subject", MREF_MANIFEST, &s, err)) < 0)
            return r;
        memcpy(m->subject, s.digest, 72);
        ref_clear(&s);
    }
    if (!at && !m->is_index && m->refs[0].media_type)
        at = m->refs[0].media_type;
    if (at && !(m->artifact_type = strdup(at)))
        return berth_error_set(err, -ENOMEM, "out of memory");
    m->annotations = annotations;
    *ret = TAKE_PTR(m);
    return 0;
}
