/* The image store: images recorded in the state database ($BERTH_ROOT/berth.db, module "image"),
 * their blobs in the blob store ($BERTH_ROOT/blobs/sha256/), their layers unpacked once into
 * $BERTH_ROOT/layers/<diff_id hex>/ and shared by every image and container that uses them.
 *
 * This is the API `berth run`, `berth build`, the registry client (`berth pull`) and the VM
 * side use:
 *
 *   struct image_store *is;   image_store_open(NULL, &is, &err);        // NULL: berth_root_dir()
 *   struct image *img;        image_lookup(is, "busybox", &img, &err);  // name[:tag][@digest] or id
 *   char **dirs;              image_layer_dirs(is, img, &dirs, &err);   // bottom layer first
 *   json_t *cfg;              image_get_config(is, img, &cfg, &err);    // the OCI image config
 *   struct image_defaults d;  image_defaults_from_config(cfg, &d, &err);// Env, Cmd, ... (defaults.h)
 *   image_mount_rootfs(is, img, upper, work, target, &err);             // overlayfs (mount.h)
 *   image_store_hold(is, img->digest, "container:<id>", &err);          // keeps it from rm/prune
 *
 * Take the hold before using the layer dirs (mounting them): prune only spares layers of images
 * that have a name or a hold, so an unnamed image's layers could go between lookup and mount.
 * Release the hold when the container is deleted.
 *
 * The registry client downloads blobs into image_store_blobs(is) (verified blob writers), holding
 * image_store_lock_shared() so that a concurrent prune cannot delete blobs that are not recorded
 * yet, then calls image_store_add(is, manifest_digest, "host/name:tag", NULL, &digest, &err).
 *
 * Reference counting is derived, not stored: a blob is in use while an image lists it
 * (image_blobs), an unpacked layer while an image lists its diff_id (image_layers), an image
 * while it has a tag or a hold. Removing an image removes only its rows; image_store_prune frees
 * the blobs and layer directories nothing references any more.
 *
 * Every function returns >= 0 on success, -errno on failure with a one-line message in err.
 * Lookups of missing images are -ENOENT ("image 'x' not found"). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "image/blobstore.h"
#include "image/progress.h"

struct store;
struct image_store;

struct image_layer {
    char *diff_id;    /* sha256 of the uncompressed tar: names the unpacked dir */
    char *digest;     /* the blob (as stored, possibly compressed) */
    char *media_type;
    uint64_t size;    /* blob size */
};

struct image {
    char *digest;        /* manifest digest: the image's identity in the store */
    char *config_digest; /* the image id shown to users (as docker and podman do) */
    char *media_type;    /* of the manifest */
    char **names;        /* tags, "docker.io/library/busybox:latest", NULL-terminated, sorted */
    struct image_layer *layers; /* bottom first */
    size_t n_layers;
    uint64_t size;       /* config + layer blobs */
    int64_t added;       /* unix time it entered the store */
    char *created;       /* config.created, may be NULL */
    char *os, *architecture;
    size_t n_holds;      /* containers (or others) using it */
};

/* Opens the store under root (NULL: berth_root_dir()), creating its directories and tables. */
int image_store_open(const char *root, struct image_store **ret, struct berth_error *err);
void image_store_free(struct image_store *is);
struct blobstore *image_store_blobs(struct image_store *is);
struct store *image_store_db(struct image_store *is);
const char *image_store_root(struct image_store *is);

/* An advisory lock on $root/images.lock: shared while adding blobs and images, exclusive while
 * pruning. image_store_add and the importers take the shared lock themselves; hold it yourself
 * around downloads whose blobs are not recorded yet. Returns 0; unlock releases it. */
int image_store_lock_shared(struct image_store *is, struct berth_error *err);
int image_store_lock_exclusive(struct image_store *is, struct berth_error *err);
void image_store_unlock(struct image_store *is);

struct image_add_options {
    const char *os, *architecture;  /* for indexes: the platform to pick (NULL: linux/host arch) */
    bool no_unpack;                 /* record only; layers are unpacked on first use */
    const struct image_progress *progress;
    uint64_t max_layer_bytes;       /* 0: default limits (unpack.h) */
    uint64_t max_layer_entries;
};

/* Records the image whose manifest (or index: the platform's manifest is chosen) is the blob
 * manifest_digest, all of whose blobs must already be in the blob store, and tags it ref when
 * ref is not NULL (a previous holder of the tag loses it). Verifies sizes and digests of the
 * config and layers, the config's diff_ids against the layers, and unpacks the layers (each
 * layer's diff_id is checked while unpacking). Idempotent. *ret_digest (may be NULL): the
 * manifest digest recorded (the platform's, when manifest_digest is an index). */
int image_store_add(struct image_store *is, const char *manifest_digest, const char *ref,
                    const struct image_add_options *opts, char **ret_digest, struct berth_error *err);

/* Finds an image by reference ("busybox", "docker.io/library/busybox:1.36",
 * "name@sha256:..."), by manifest or config digest ("sha256:..."), or by an unambiguous prefix of
 * at least 4 hex digits of either. */
int image_lookup(struct image_store *is, const char *what, struct image **ret, struct berth_error *err);
void image_free(struct image *img);

/* Every image, newest first. */
int image_list(struct image_store *is, struct image ***ret, size_t *ret_n, struct berth_error *err);
void image_list_free(struct image **list, size_t n);

/* The image config (OCI image-spec config JSON, owned by the caller). */
int image_get_config(struct image_store *is, const struct image *img, json_t **ret, struct berth_error *err);
/* The raw manifest bytes. */
int image_get_manifest(struct image_store *is, const struct image *img, char **ret_data, size_t *ret_len,
                       struct berth_error *err);

/* Absolute paths of the unpacked layer directories, bottom layer first (overlayfs wants the
 * reverse: see mount.h), NULL-terminated. Unpacks layers that are not unpacked yet. */
int image_layer_dirs(struct image_store *is, const struct image *img, char ***ret_dirs, struct berth_error *err);

/* Unpacks every layer of img not unpacked yet (done once per diff_id, shared). */
int image_unpack(struct image_store *is, const struct image *img, const struct image_add_options *opts,
                 struct berth_error *err);

/* Adds tag ref (normalised) to the image found by what. */
int image_tag(struct image_store *is, const char *what, const char *ref, struct berth_error *err);
/* Removes a tag; -ENOENT when no image has it. */
int image_untag(struct image_store *is, const char *ref, struct berth_error *err);

/* Removes what: a tag of an image with several tags drops only that tag (like docker rmi);
 * otherwise the image. An image with holds is -EBUSY unless force. Blobs and layers stay until
 * image_store_prune. *ret_removed (may be NULL): 1 when the image itself went. */
int image_remove(struct image_store *is, const char *what, bool force, int *ret_removed, struct berth_error *err);

struct image_prune_result {
    size_t images, blobs, layers;
    uint64_t bytes; /* blob bytes plus layer bytes freed */
};
/* Removes untagged images without holds (all: every image without holds), then the blobs and
 * unpacked layers nothing references, and leftovers of interrupted imports and unpacks. */
int image_store_prune(struct image_store *is, bool all, struct image_prune_result *ret, struct berth_error *err);

/* Holds keep an image from rm (without force) and prune: holder is e.g. "container:<id>". */
int image_store_hold(struct image_store *is, const char *image_digest, const char *holder, struct berth_error *err);
int image_store_release(struct image_store *is, const char *image_digest, const char *holder, struct berth_error *err);

/* Reference counts (for tests and `inspect`): images listing a blob, images listing a diff_id. */
int image_store_blob_refs(struct image_store *is, const char *digest, struct berth_error *err);
int image_store_layer_refs(struct image_store *is, const char *diff_id, struct berth_error *err);
/* Whether the layer is unpacked: 1 yes, 0 no. */
int image_store_layer_unpacked(struct image_store *is, const char *diff_id);

static inline void image_store_freep(struct image_store **p)
{
    image_store_free(*p);
}
static inline void image_freep(struct image **p)
{
    image_free(*p);
}
#define _cleanup_image_store_ __attribute__((cleanup(image_store_freep)))
#define _cleanup_image_ __attribute__((cleanup(image_freep)))
