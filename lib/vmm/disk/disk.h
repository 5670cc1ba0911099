/* Disk images behind one ops table: raw files and qcow2 (with backing chains) look the same to
 * virtio-blk and to `berth disk`. All offsets and lengths are in bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/error.h"

struct disk;

struct disk_ops {
    const char *format;  /* "raw", "qcow2" */
    /* Reads/writes exactly the iovec's total length at offset; -EINVAL past the end. */
    int (*readv)(struct disk *d, uint64_t offset, const struct iovec *iov, int iovcnt);
    int (*writev)(struct disk *d, uint64_t offset, const struct iovec *iov, int iovcnt);
    /* Makes every completed write durable (metadata included). */
    int (*flush)(struct disk *d);
    /* Gives [offset, offset+len) back; reads of it then return zeroes. Optional. */
    int (*discard)(struct disk *d, uint64_t offset, uint64_t len);
    /* Frees everything; flushes first when writable. */
    void (*close)(struct disk *d);
};

struct disk {
    const struct disk_ops *ops;
    uint64_t size;       /* virtual size */
    bool read_only;
    char *path;
    void *priv;          /* the backend's state */
    /* Why the last failed I/O failed, when the backend knows more than the errno (qcow2: which
     * table entry is corrupt); for logs and `berth disk`. Only meaningful after a failure. */
    struct berth_error last_error;
};

/* The format of path by its content: "qcow2" when it has the qcow2 magic, else "raw". */
int disk_probe(const char *path, const char **ret_format, struct berth_error *err);

/* Opens path, probing its format ("raw" or "qcow2"; format NULL means probe). */
int disk_open(const char *path, const char *format, bool read_only, struct disk **ret, struct berth_error *err);

/* Opens a raw file. */
int disk_raw_open(const char *path, bool read_only, struct disk **ret, struct berth_error *err);

void disk_close(struct disk *d);

int disk_read(struct disk *d, uint64_t offset, void *buf, size_t len);
int disk_write(struct disk *d, uint64_t offset, const void *buf, size_t len);
int disk_flush(struct disk *d);
int disk_discard(struct disk *d, uint64_t offset, uint64_t len);

static inline void disk_closep(struct disk **d)
{
    if (*d)
        disk_close(*d);
}
#define _cleanup_disk_ __attribute__((cleanup(disk_closep)))
