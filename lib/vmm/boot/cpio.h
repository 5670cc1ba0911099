/* Writer for the "newc" cpio format the Linux kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

struct cpio_writer;

int cpio_writer_new(const char *path, struct cpio_writer **ret, struct berth_error *err);
/* Entries; names are relative ("init", "lib/modules/x.ko") and parents must be added first. */
int cpio_add_dir(struct cpio_writer *w, const char *name, mode_t mode, struct berth_error *err);
int cpio_add_file(struct cpio_writer *w, const char *name, mode_t mode, const void *data, size_t len,
                  struct berth_error *err);
/* Copies a host file's content (bounded to 256 MiB). */
int cpio_add_file_from(struct cpio_writer *w, const char *name, mode_t mode, const char *src,
                       struct berth_error *err);
int cpio_add_symlink(struct cpio_writer *w, const char *name, const char *target, struct berth_error *err);
int cpio_add_chardev(struct cpio_writer *w, const char *name, mode_t mode, unsigned major, unsigned minor,
                     struct berth_error *err);
/* Writes the trailer, fsyncs and atomically renames into place; frees w in every case. */
int cpio_writer_finish(struct cpio_writer *w, struct berth_error *err);
/* Drops the partial output; frees w. */
void cpio_writer_abort(struct cpio_writer *w);
