/* Gold templates and thin clones. An image's template is its root filesystem as an ext4 file
 * system in a qcow2 file, built once per (image, disk size) and shared read-only; every VM's disk
 * is a thin qcow2 overlay on a template. Named templates (`berth vm template create`) are
 * standalone qcow2 files made from a VM's disk or an image. */
#pragma once

#include <stdint.h>

#include "base/error.h"

struct image_store;
struct image;

/* $BERTH_ROOT/templates/image-<config digest hex, 16>-<size MiB>.qcow2, built when missing
 * (concurrent builders wait for each other on a lock file, nobody sees a half-built file). */
int vm_image_template(struct image_store *is, const struct image *img, uint64_t size, char **ret_path,
                      struct berth_error *err);

/* $BERTH_ROOT/templates/<name>.qcow2 (malloc'd). */
char *vm_named_template_path(const char *name);

/* Creates the thin overlay disk_path on backing (absolute path), recording backing_format ("raw"
 * or "qcow2") in its header so the base is never probed again once a guest has written to it. */
int vm_overlay_create(const char *backing, const char *backing_format, const char *disk_path, struct berth_error *err);
