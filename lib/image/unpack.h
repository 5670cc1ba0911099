/* Unpacking one layer (a tar stream, uncompressed, gzip or zstd: detected from the content) into
 * an empty directory, as an overlayfs lower layer:
 *   - `.wh.NAME` becomes a whiteout (character device 0/0 NAME), `.wh..wh..opq` marks its
 *     directory opaque (xattr trusted.overlay.opaque=y); other `.wh..wh.*` entries are dropped;
 *   - nothing is ever written outside the directory: paths are resolved with openat2
 *     RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS, so an entry below a symlink (written through it) is
 *     refused, `..` components are refused, absolute paths are taken relative to the layer,
 *     hard links must point at a file of the same layer;
 *   - device nodes are refused unless allow_devices (default: only when running as root);
 *   - the uncompressed stream is capped in bytes, in entries and in compression ratio
 *     (decompression bombs), and its sha256 is the layer's diff_id, returned for verification;
 *   - xattrs from the layer are applied only in the user. and security.capability namespaces
 *     (a layer cannot forge trusted.overlay.* metadata).
 * On error the directory is left half-filled: callers unpack into a staging dir and remove it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "image/progress.h"

#define LAYER_MAX_BYTES_DEFAULT (64ull << 30)  /* uncompressed tar bytes per layer */
#define LAYER_MAX_ENTRIES_DEFAULT 2000000ull
#define LAYER_MAX_RATIO_DEFAULT 1000ull        /* uncompressed:compressed, checked past 1 GiB */
#define LAYER_RATIO_FLOOR (1ull << 30)

struct layer_unpack_options {
    uint64_t max_bytes;   /* 0: $BERTH_LAYER_MAX_BYTES or the default (also capped by free space) */
    uint64_t max_entries; /* 0: $BERTH_LAYER_MAX_ENTRIES or the default */
    uint64_t max_ratio;   /* 0: the default */
    int allow_devices;    /* -1 (default): when euid is 0; 0 refuse; 1 allow */
    const struct image_progress *progress;
    unsigned item, items; /* for progress events */
    uint64_t *bytes_done; /* progress counter shared across layers (may be NULL) */
};

struct layer_unpack_result {
    char diff_id[72];     /* sha256 of the uncompressed tar stream */
    uint64_t bytes;       /* uncompressed tar bytes */
    uint64_t entries;
};

/* Reads the layer from fd (to its end) and unpacks into dir_fd. what names the layer in errors. */
int layer_unpack(int fd, int dir_fd, const char *what, const struct layer_unpack_options *opts,
                 struct layer_unpack_result *ret, struct berth_error *err);

/* Parses sizes like "100M", "2G", "512k", "1000" (bytes). */
int parse_size(const char *s, uint64_t *ret);
