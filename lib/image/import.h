/* Bringing images into the store from files, and out again:
 *   - an OCI image layout directory (oci-layout, index.json, blobs/sha256/...),
 *   - an OCI archive (a tar of such a layout, as `skopeo copy oci-archive:` and `podman save
 *     --format oci-archive` write; gzip/zstd-compressed tars too),
 *   - a `docker save` / `podman save` archive (manifest.json with Config, RepoTags and Layers),
 *   - a root filesystem (a directory or a tar), as a one-layer image;
 * and out to an OCI archive that skopeo and `podman load` read.
 * Every blob is verified against its digest on the way in; on failure the blobs the import added
 * are removed again and no image is recorded. */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "image/image.h"
#include "image/progress.h"

enum image_archive_format {
    IMAGE_FORMAT_AUTO,
    IMAGE_FORMAT_OCI_DIR,
    IMAGE_FORMAT_OCI_ARCHIVE,
    IMAGE_FORMAT_DOCKER_ARCHIVE,
};

struct image_import_options {
    enum image_archive_format format; /* AUTO: a directory is an OCI layout, a file is looked into */
    /* Names the imported image (only with exactly one image in the source). Without a tag, the
     * archive's own tag for it is used, else "latest". NULL: the names found in the source. */
    const char *name;
    struct image_add_options add;
};

struct image_import_result {
    char **digests; /* manifest digests imported, NULL-terminated */
    char **names;   /* tags given to them, NULL-terminated */
};
void image_import_result_clear(struct image_import_result *r);

int image_import(struct image_store *is, const char *path, const struct image_import_options *opts,
                 struct image_import_result *ret, struct berth_error *err);

struct image_rootfs_options {
    const char *name;           /* the tag to give (NULL: untagged) */
    char **cmd, **entrypoint;   /* config.Cmd / Entrypoint (NULL: unset) */
    char **env;                 /* config.Env (NULL: PATH only) */
    const char *working_dir;
    const char *architecture;   /* NULL: the host's */
    struct image_add_options add;
};

/* A one-layer image from a root filesystem: path is a directory (walked without following
 * symlinks) or a tar (optionally compressed). */
int image_import_rootfs(struct image_store *is, const char *path, const struct image_rootfs_options *opts,
                        char **ret_digest, struct berth_error *err);

/* Writes the images named by whats (n of them) as one OCI archive at path ("-": stdout),
 * atomically: a temp file renamed into place. Each image appears in index.json once per tag with
 * org.opencontainers.image.ref.name set to the full name (once, unnamed, when untagged). */
int image_export(struct image_store *is, char *const *whats, size_t n, const char *path,
                 const struct image_progress *progress, struct berth_error *err);
