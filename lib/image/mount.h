/* Container root filesystems from images: overlayfs over the image's unpacked layers. */
#pragma once

#include "base/error.h"
#include "image/image.h"

/* Mounts img at target: the layers (unpacked first if needed) as overlayfs lower dirs, top layer
 * first, with upperdir and workdir (same filesystem, workdir empty) for a writable rootfs, or
 * read-only when both are NULL. Uses the new mount API with "lowerdir+" (no length limit on the
 * number of layers) and falls back to mount(2) with a lowerdir= list on older kernels. */
int image_mount_rootfs(struct image_store *is, const struct image *img, const char *upperdir, const char *workdir,
                       const char *target, struct berth_error *err);

/* The overlay options for mount(2)/OCI runtime "mounts" entries instead of mounting here:
 * "lowerdir=top:...:bottom[,upperdir=..,workdir=..]" (malloc'd). */
int image_overlay_options(struct image_store *is, const struct image *img, const char *upperdir, const char *workdir,
                          char **ret, struct berth_error *err);

/* Detaches the mount at target (lazy, like umount -l). */
int image_umount_rootfs(const char *target, struct berth_error *err);
