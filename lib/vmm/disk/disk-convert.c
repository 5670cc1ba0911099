/* `berth disk convert` and `resize`: generic over the disk ops table. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "vmm/disk/disk-tools.h"
#include "vmm/disk/disk.h"
#include "vmm/disk/qcow2.h"

#define CHUNK (2u << 20)

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

int disk_create_raw(const char *path, uint64_t size, struct berth_error *err)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return berth_error_errno(err, -errno, "%s", path);
    if (ftruncate(fd, (off_t) size) < 0)
        return berth_error_errno(err, -errno, "%s: truncate", path);
    return 0;
}

static int copy(struct disk *s, struct disk *d, struct berth_error *err)
{
    _cleanup_free_ uint8_t *buf = malloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    for (uint64_t off = 0; off < s->size; off += CHUNK) {
        size_t n = s->size - off < CHUNK ? (size_t) (s->size - off) : CHUNK;
        int r = disk_read(s, off, buf, n);
        if (r < 0 && s->last_error.code)
            return berth_error_set(err, r, "%s", s->last_error.msg);
        if (r < 0)
            return berth_error_errno(err, r, "%s: read at %llu", s->path, (unsigned long long) off);
        /* The new file reads as zeroes already: writing zeroes would only un-sparse it. */
        for (size_t at = 0; at < n; at += 64 * 1024) {
            size_t len = n - at < 64 * 1024 ? n - at : 64 * 1024;
            if (all_zero(buf + at, len))
                continue;
            r = disk_write(d, off + at, buf + at, len);
            if (r < 0 && d->last_error.code)
                return berth_error_set(err, r, "%s", d->last_error.msg);
            if (r < 0)
                return berth_error_errno(err, r, "%s: write at %llu", d->path, (unsigned long long) (off + at));
        }
    }
    int r = disk_flush(d);
    return r < 0 ? berth_error_errno(err, r, "%s: flush", d->path) : 0;
}

int disk_convert(const char *src, const char *src_format, const char *dst, const char *dst_format,
                 unsigned cluster_bits, struct berth_error *err)
{
    if (strcmp(dst_format, "raw") && strcmp(dst_format, "qcow2"))
        return berth_error_set(err, -EINVAL, "unknown output format '%s' (raw or qcow2)", dst_format);
    _cleanup_disk_ struct disk *s = NULL;
    int r = disk_open(src, src_format, true, &s, err);
    if (r < 0)
        return r;
    if (!strcmp(dst_format, "raw")) {
        r = disk_create_raw(dst, s->size, err);
    } else {
        struct qcow2_create_opts o = {.size = s->size, .cluster_bits = cluster_bits};
        r = qcow2_create(dst, &o, err);
    }
    if (r < 0)
        return r;
    struct disk *d = NULL;
    r = disk_open(dst, dst_format, false, &d, err);
    if (r >= 0) {
        r = copy(s, d, err);
        disk_close(d);
    }
    if (r < 0)
        unlink(dst);
    return r;
}

int disk_resize(const char *path, const char *format, uint64_t new_size, struct berth_error *err)
{
    if (!format) {
        int r = disk_probe(path, &format, err);
        if (r < 0)
            return r;
    }
    if (!strcmp(format, "qcow2"))
        return qcow2_resize(path, new_size, err);
    if (strcmp(format, "raw"))
        return berth_error_set(err, -EINVAL, "%s: unknown disk format '%s'", path, format);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return berth_error_errno(err, -errno, "%s", path);
    if (!S_ISREG(st.st_mode))
        return berth_error_set(err, -EINVAL, "%s: not a regular file", path);
    if (new_size < (uint64_t) st.st_size)
        return berth_error_set(err, -ENOTSUP, "%s: shrinking is not supported (%llu < %llu bytes)", path,
                               (unsigned long long) new_size, (unsigned long long) st.st_size);
    if (ftruncate(fd, (off_t) new_size) < 0 || fsync(fd) < 0)
        return berth_error_errno(err, -errno, "%s: resize", path);
    return 0;
}

int disk_parse_size(const char *s, uint64_t *ret)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0 || !isfinite(v))
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    case 't':
    case 'T':
        shift = 40;
        end++;
        break;
    case 'p':
    case 'P':
        shift = 50;
        end++;
        break;
    case 'b':
    case 'B':
        end++;
        break;
    default:
        break;
    }
    if (shift && (!strcmp(end, "iB") || !strcmp(end, "B")))
        end += strlen(end);
    if (*end)
        return -EINVAL;
    double bytes = v * (double) (1ull << shift);
    if (bytes >= 18446744073709551615.0 || bytes != (double) (uint64_t) bytes)
        return -EINVAL;
    *ret = (uint64_t) bytes;
    return 0;
}
