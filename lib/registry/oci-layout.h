/* OCI image layout directories (image-spec "oci-layout", index.json, blobs/sha256) as a source
 * for push and a destination for pull. Images are named by org.opencontainers.image.ref.name. */
#pragma once

#include <stdint.h>

#include "base/error.h"
#include "image/blobstore.h"

/* Opens dir's blob store; with create, makes the layout (oci-layout, empty index.json) when absent. */
int oci_layout_open(const char *dir, bool create, struct blobstore **ret, struct berth_error *err);
/* The descriptor named tag (NULL: the only one in index.json). */
int oci_layout_find(const char *dir, const char *tag, char ret_digest[72], char **ret_media_type, uint64_t *ret_size,
                    struct berth_error *err);
/* Adds a descriptor named tag to index.json, replacing one of the same name (atomic rewrite). */
int oci_layout_tag(const char *dir, const char *media_type, const char *digest, uint64_t size, const char *tag,
                   struct berth_error *err);
