/* Whole-image operations behind `berth disk`: info, convert, resize, create. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "base/error.h"

/* Facts about an image and its whole backing chain, as JSON with qemu-img's key names
 * ("filename", "format", "virtual-size", "actual-size", "cluster-size", "backing-filename",
 * "full-backing-filename", "backing-filename-format", "dirty-flag", "format-specific") plus
 * "backing-chain": the same object for every file below. A missing backing file is reported in
 * "backing-error", not as a failure. */
int disk_info_json(const char *path, const char *format, json_t **ret, struct berth_error *err);

/* Copies src (any format; probed when src_format is NULL) into a new file dst in dst_format
 * ("raw" or "qcow2"), skipping zero blocks so that dst stays sparse. dst must not exist; on
 * failure it is removed. cluster_bits 0: the default. */
int disk_convert(const char *src, const char *src_format, const char *dst, const char *dst_format,
                 unsigned cluster_bits, struct berth_error *err);

/* Creates a sparse raw file of size bytes (O_EXCL). */
int disk_create_raw(const char *path, uint64_t size, struct berth_error *err);

/* Grows an image (raw or qcow2) to new_size bytes. Shrinking is refused. */
int disk_resize(const char *path, const char *format, uint64_t new_size, struct berth_error *err);

/* Parses a size such as 10G, 512M, 4096, 1.5T (binary units; K/M/G/T/P, optional "iB"/"B"). */
int disk_parse_size(const char *s, uint64_t *ret);
