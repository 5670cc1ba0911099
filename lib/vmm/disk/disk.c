#include "vmm/disk/disk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Backends add themselves to disk_open's probe as they land (qcow2 first: raw matches anything). */
int disk_open(const char *path, const char *format, bool read_only, struct disk **ret, struct berth_error *err)
{
    if (!format || !strcmp(format, "raw"))
        return disk_raw_open(path, read_only, ret, err);
    return berth_error_set(err, -EINVAL, "%s: unknown disk format '%s'", path, format);
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
