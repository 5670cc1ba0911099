/* OCI image-spec documents (descriptor, manifest, index, image config) and the Docker v2 schema 2
 * equivalents, parsed from untrusted JSON into plain structs. Parsers check types, digests, sizes
 * and counts; errors name the document ("what") and the field at fault. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define MEDIA_OCI_LAYOUT_VERSION "1.0.0"
#define MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MEDIA_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MEDIA_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define OCI_MANIFEST_MAX (4u << 20) /* manifests, indexes and configs larger than this are refused */
#define OCI_LAYERS_MAX 500
#define OCI_INDEX_MAX 1000

#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
#define ANNOTATION_CONTAINERD_NAME "io.containerd.image.name"

enum layer_compression { LAYER_UNCOMPRESSED, LAYER_GZIP, LAYER_ZSTD };

struct oci_descriptor {
    char *media_type;
    char *digest;
    uint64_t size;
    char *os, *architecture, *variant; /* platform, when given (index entries) */
    char *ref_name;                    /* annotation org.opencontainers.image.ref.name */
    char *image_name;                  /* annotation io.containerd.image.name (docker save >= 25) */
};

struct oci_manifest {
    char *media_type; /* MEDIA_OCI_MANIFEST or MEDIA_DOCKER_MANIFEST */
    struct oci_descriptor config;
    struct oci_descriptor *layers;
    size_t n_layers;
};

struct oci_index {
    char *media_type; /* MEDIA_OCI_INDEX or MEDIA_DOCKER_LIST */
    struct oci_descriptor *manifests;
    size_t n_manifests;
};

struct oci_image_config {
    json_t *json; /* the whole document (owned): "config", "history", ... */
    char *os, *architecture, *created;
    char **diff_ids; /* rootfs.diff_ids, NULL-terminated */
    size_t n_diff_ids;
};

enum oci_kind { OCI_KIND_MANIFEST, OCI_KIND_INDEX };

/* Whether a JSON document is a manifest or an index, from mediaType or (absent) its shape. */
int oci_document_kind(const char *data, size_t len, const char *what, enum oci_kind *ret, struct berth_error *err);

int oci_manifest_parse(const char *data, size_t len, const char *what, struct oci_manifest **ret,
                       struct berth_error *err);
void oci_manifest_free(struct oci_manifest *m);

int oci_index_parse(const char *data, size_t len, const char *what, struct oci_index **ret, struct berth_error *err);
void oci_index_free(struct oci_index *idx);

int oci_config_parse(const char *data, size_t len, const char *what, struct oci_image_config **ret,
                     struct berth_error *err);
void oci_config_free(struct oci_image_config *c);

/* Index entry for os/architecture (NULL: the host's linux/<arch>); -ENOENT with the list of
 * platforms the index offers. Entries without a platform match only when they are alone. */
int oci_index_select(const struct oci_index *idx, const char *os, const char *architecture,
                     const struct oci_descriptor **ret, struct berth_error *err);

/* Compression of a layer media type; -EPROTONOSUPPORT for anything that is not a layer we unpack. */
int oci_layer_compression(const char *media_type, enum layer_compression *ret);
bool oci_media_is_manifest(const char *media_type);
bool oci_media_is_index(const char *media_type);

/* The host architecture in OCI spelling ("amd64", "arm64", ...). */
const char *oci_host_architecture(void);

/* JSON of a descriptor (mediaType, digest, size, and the ref name annotation when set). */
json_t *oci_descriptor_to_json(const struct oci_descriptor *d);

void oci_descriptor_clear(struct oci_descriptor *d);

static inline void oci_manifest_freep(struct oci_manifest **p)
{
    oci_manifest_free(*p);
}
static inline void oci_index_freep(struct oci_index **p)
{
    oci_index_free(*p);
}
static inline void oci_config_freep(struct oci_image_config **p)
{
    oci_config_free(*p);
}
