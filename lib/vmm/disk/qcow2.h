/* qcow2 images (versions 2 and 3), written from QEMU's docs/interop/qcow2.txt.
 *
 * What is supported: reading v2 and v3, writing v3 (and v2 without internal snapshots), backing
 * chains of any depth (qcow2 or raw backing), zero clusters, discard, compressed clusters
 * (deflate, read-only: a write to one copies it out), refcount widths 1..64 bits, create, grow.
 * Crash safety: metadata is cached and written back in dependency order (refcounts, then L2
 * tables, then the L1 table, with fdatasync between), data clusters are allocated past the end of
 * the file and never reused within a session, freed clusters have their refcount dropped only
 * after the tables that stopped referencing them are durable. A process killed at any point
 * leaves an image that checks clean (leaked clusters at most); after disk_flush() returns, the
 * data written before it survives a power loss as well. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "vmm/disk/disk.h"

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_DEFAULT_CLUSTER_BITS 16
#define QCOW2_MAX_BACKING_DEPTH 64

struct qcow2_open_opts {
    bool read_only;
    bool no_backing;          /* do not open the backing file (info, check, fuzzing) */
    unsigned l2_cache_tables; /* 0: a default sized to cover 8 GiB of disk, bounded */
    /* When set, every file of the backing chain must resolve (symlinks followed) inside this
     * directory: an image from an untrusted source cannot name /etc/shadow as its raw backing
     * file and show it to a guest. */
    const char *backing_root;
};

/* Opens a qcow2 image with its backing chain. */
int qcow2_open(const char *path, const struct qcow2_open_opts *opts, struct disk **ret, struct berth_error *err);

/* True when the first bytes of fd carry the qcow2 magic (a read error counts as false). */
bool qcow2_probe_fd(int fd);

struct qcow2_create_opts {
    uint64_t size;              /* virtual size; 0 with a backing file: the backing file's size */
    unsigned cluster_bits;      /* 0: 16 (64 KiB clusters) */
    unsigned refcount_bits;     /* 0: 16 */
    const char *backing;        /* stored as given; a relative name is relative to the image's dir */
    const char *backing_format; /* "raw"/"qcow2"; NULL: probed now and recorded */
    bool sync;                  /* fsync the new file and its directory before returning */
};

/* Creates a new qcow2 v3 image (O_EXCL: an existing path is -EEXIST). */
int qcow2_create(const char *path, const struct qcow2_create_opts *opts, struct berth_error *err);

/* Thin overlays in bulk (VM clones): prepare once (this opens the backing file to learn its size
 * and format), then create any number of overlays from any number of threads; each create is an
 * open(O_EXCL), three small pwrites, an ftruncate and a close, with no shared lock and no fsync
 * unless opts->sync. The template is read-only after preparation. */
struct qcow2_template;
/* resolve_dir: the directory a relative opts->backing is resolved against (NULL: the cwd). */
int qcow2_template_new(const struct qcow2_create_opts *opts, const char *resolve_dir, struct qcow2_template **ret,
                       struct berth_error *err);
int qcow2_template_create(const struct qcow2_template *t, const char *path, struct berth_error *err);
void qcow2_template_free(struct qcow2_template *t);

/* Grows the virtual size of a qcow2 image that nobody else has open. Shrinking is refused. */
int qcow2_resize(const char *path, uint64_t new_size, struct berth_error *err);

struct qcow2_info {
    unsigned version;
    uint64_t size;
    uint64_t cluster_size;
    unsigned refcount_bits;
    uint64_t incompatible, compatible, autoclear;
    unsigned nb_snapshots;
    char backing[1024]; /* "" when none */
    char backing_format[32];
};

/* Header facts of an open qcow2 disk (d->ops->format must be "qcow2"). */
void qcow2_get_info(struct disk *d, struct qcow2_info *ret);

/* The backing disk of an open qcow2 disk, or NULL. */
struct disk *qcow2_backing(struct disk *d);

struct qcow2_check_result {
    uint64_t corruptions;  /* references to bad places, refcounts lower than references */
    uint64_t leaks;        /* clusters with a refcount and no reference */
    uint64_t check_errors; /* could not check something (I/O error) */
    uint64_t allocated_clusters;
    uint64_t total_clusters; /* of the virtual disk */
    uint64_t image_end_offset;
    uint64_t leaks_fixed;
    bool refcounts_rebuilt;  /* QCOW2_REPAIR_ALL rebuilt every refcount from the references */
    char first_problem[512]; /* the first corruption found, for the one-line report */
};

enum qcow2_repair {
    QCOW2_REPAIR_NONE,
    QCOW2_REPAIR_LEAKS, /* lower refcounts higher than their references */
    QCOW2_REPAIR_ALL,   /* rebuild every refcount from the references (fixes refcounts that are
                         * too low too), unless a table entry itself is corrupt */
};

/* Checks refcounts against references, like `qemu-img check` (and repairs: the image must not be
 * open elsewhere). Returns 0 when the check ran (see the counts, which describe the image after
 * any repair), -errno when it could not run. */
int qcow2_check(const char *path, enum qcow2_repair repair, struct qcow2_check_result *ret, struct berth_error *err);
