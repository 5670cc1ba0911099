#include "vmm/disk/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "vmm/disk/qcow2.h"

int disk_probe(const char *path, const char **ret_format, struct berth_error *err)
{
    /* O_NONBLOCK: probing a FIFO must not hang. */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return berth_error_errno(err, -errno, "%s", path);
    /* What cannot be a disk is said here, or a directory would pass as an empty raw image
     * ("format 'raw' has no metadata to check"). */
    struct stat st;
    if (fstat(fd, &st) < 0)
        return berth_error_errno(err, -errno, "%s", path);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return berth_error_set(err, -EINVAL, "%s: not a regular file or block device", path);
    *ret_format = qcow2_probe_fd(fd) ? "qcow2" : "raw";
    return 0;
}

/* qcow2 is probed first: raw matches anything. Callers that know the format (a VM's own disk,
 * whose guest could write a qcow2 header into a raw image) must pass it. */
int disk_open(const char *path, const char *format, bool read_only, struct disk **ret, struct berth_error *err)
{
    if (!format) {
        int r = disk_probe(path, &format, err);
        if (r < 0)
            return r;
    }
    if (!strcmp(format, "raw"))
        return disk_raw_open(path, read_only, ret, err);
    if (!strcmp(format, "qcow2")) {
        struct qcow2_open_opts o = { .read_only = read_only };
        return qcow2_open(path, &o, ret, err);
    }
    return berth_error_set(err, -EINVAL, "%s: unknown disk format '%s' (raw or qcow2)", path, format);
}

void disk_close(struct disk *d)
{
    if (d)
        d->ops->close(d);
}

int disk_read(struct disk *d, uint64_t offset, void *buf, size_t len)
{
    struct iovec iov = { buf, len };
    return d->ops->readv(d, offset, &iov, 1);
}

int disk_write(struct disk *d, uint64_t offset, const void *buf, size_t len)
{
    if (d->read_only)
        return -EROFS;
    struct iovec iov = { (void *) buf, len };
    return d->ops->writev(d, offset, &iov, 1);
}

int disk_flush(struct disk *d)
{
    return d->ops->flush(d);
}

int disk_discard(struct disk *d, uint64_t offset, uint64_t len)
{
    if (d->read_only)
        return -EROFS;
    if (!d->ops->discard)
        return -EOPNOTSUPP;
    if (offset > d->size || len > d->size - offset)
        return -EINVAL;
    return d->ops->discard(d, offset, len);
}
