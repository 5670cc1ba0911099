/* Raw disk files: the virtual disk is the file, byte for byte. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "vmm/disk/disk.h"

struct raw_disk {
    int fd;
};

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    return total;
}

static int raw_io(struct disk *d, uint64_t offset, const struct iovec *iov, int iovcnt, bool write)
{
    struct raw_disk *raw = d->priv;
    size_t total = iov_total(iov, iovcnt);
    if (offset > d->size || total > d->size - offset)
        return -EINVAL;
    struct iovec local[64];
    if (iovcnt > (int) ARRAY_SIZE(local))
        return -E2BIG;
    memcpy(local, iov, sizeof(*iov) * (size_t) iovcnt);
    struct iovec *cur = local;
    int left = iovcnt;
    while (total > 0) {
        ssize_t n = write ? pwritev(raw->fd, cur, left, (off_t) offset) : preadv(raw->fd, cur, left, (off_t) offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {
            /* A raw file shorter than its size reads as zeroes past its end. */
            if (write)
                return -EIO;
            for (int i = 0; i < left; i++)
                memset(cur[i].iov_base, 0, cur[i].iov_len);
            return 0;
        }
        total -= (size_t) n;
        offset += (uint64_t) n;
        while (left > 0 && (size_t) n >= cur->iov_len) {
            n -= (ssize_t) cur->iov_len;
            cur++;
            left--;
        }
        if (left > 0) {
            cur->iov_base = (char *) cur->iov_base + n;
            cur->iov_len -= (size_t) n;
        }
    }
    return 0;
}

static int raw_readv(struct disk *d, uint64_t offset, const struct iovec *iov, int iovcnt)
{
    return raw_io(d, offset, iov, iovcnt, false);
}

static int raw_writev(struct disk *d, uint64_t offset, const struct iovec *iov, int iovcnt)
{
    return raw_io(d, offset, iov, iovcnt, true);
}

static int raw_flush(struct disk *d)
{
    struct raw_disk *raw = d->priv;
    return fdatasync(raw->fd) < 0 ? -errno : 0;
}

static int raw_discard(struct disk *d, uint64_t offset, uint64_t len)
{
    struct raw_disk *raw = d->priv;
    if (fallocate(raw->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset, (off_t) len) < 0)
        return errno == EOPNOTSUPP ? 0 : -errno;
    return 0;
}

static void raw_close(struct disk *d)
{
    struct raw_disk *raw = d->priv;
    if (raw) {
        if (!d->read_only)
            fdatasync(raw->fd);
        close(raw->fd);
        free(raw);
    }
    free(d->path);
    free(d);
}

static const struct disk_ops raw_ops = {
    .format = "raw",
    .readv = raw_readv,
    .writev = raw_writev,
    .flush = raw_flush,
    .discard = raw_discard,
    .close = raw_close,
};

int disk_raw_open(const char *path, bool read_only, struct disk **ret, struct berth_error *err)
{
    _cleanup_close_ int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return berth_error_errno(err, -errno, "%s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return berth_error_errno(err, -errno, "%s: stat", path);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return berth_error_set(err, -EINVAL, "%s: not a regular file or block device", path);
    uint64_t size = (uint64_t) st.st_size;
    if (S_ISBLK(st.st_mode)) {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end < 0)
            return berth_error_errno(err, -errno, "%s: size", path);
        size = (uint64_t) end;
    }
    struct disk *d = calloc(1, sizeof(*d));
    struct raw_disk *raw = calloc(1, sizeof(*raw));
    char *p = strdup(path);
    if (!d || !raw || !p) {
        free(d);
        free(raw);
        free(p);
        return berth_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    raw->fd = TAKE_FD(fd);
    *d = (struct disk){ .ops = &raw_ops, .size = size, .read_only = read_only, .path = p, .priv = raw };
    *ret = d;
    return 0;
}
