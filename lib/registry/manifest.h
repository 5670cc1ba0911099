/* Image manifests and indexes as the registry and the client see them: OCI image manifest and
 * index, Docker v2 schema 2 manifest and manifest list. Parsing is bounded and strict about
 * the fields the registry relies on (descriptors' digests and sizes), lenient about the rest. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"

/* Manifests larger than this are refused (the spec lets registries pick; distribution uses 4 MiB). */
#define REGISTRY_MANIFEST_MAX (4u << 20)
#define REGISTRY_MANIFEST_MAX_REFS 10000

enum manifest_ref_kind { MREF_CONFIG, MREF_LAYER, MREF_MANIFEST };

struct manifest_ref {
    enum manifest_ref_kind kind;
    char digest[72];
    char *media_type;
    char *artifact_type;
    int64_t size;
    char *os, *arch, *variant;   /* index entries' platform, NULL when absent */
};

struct registry_manifest {
    char *media_type;
    bool is_index;
    size_t n_refs, cap_refs;
    struct manifest_ref *refs;
    char subject[72];        /* "" when the manifest has no subject */
    char *artifact_type;     /* artifactType, else the config's media type (referrers API) */
    json_t *annotations;     /* borrowed reference into root, may be NULL */
    json_t *root;
};

bool manifest_media_type_is_known(const char *mt);
bool manifest_media_type_is_index(const char *mt);

/* Parses a manifest. content_type (may be NULL) is the Content-Type it was sent with; when the
 * document has a mediaType too they must agree. */
int manifest_parse(const char *data, size_t len, const char *content_type, struct registry_manifest **ret,
                   struct berth_error *err);
void manifest_free(struct registry_manifest *m);
static inline void manifest_freep(struct registry_manifest **m)
{
    manifest_free(*m);
}
#define _cleanup_manifest_ __attribute__((cleanup(manifest_freep)))
