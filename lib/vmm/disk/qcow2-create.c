/* Creating qcow2 v3 images (alone, or in bulk as thin overlays from one template) and growing them.
 * A new image is: cluster 0 header, then the refcount table, the refcount blocks and the L1
 * table, all refcounted 1. Only the used bytes are written; the L1 table is a hole. */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "vmm/disk/qcow2-priv.h"

struct qcow2_template {
    uint8_t *header;
    size_t header_len;
    uint8_t *rt;
    size_t rt_len;
    uint64_t rt_off;
    uint8_t *rb;
    size_t rb_len;
    uint64_t rb_off;
    uint64_t file_len;
    bool sync;
};

void qcow2_template_free(struct qcow2_template *t)
{
    if (!t)
        return;
    free(t->header);
    free(t->rt);
    free(t->rb);
    free(t);
}
DEFINE_CLEANUP_FUNC(struct qcow2_template, qcow2_template_free)

static int backing_facts(const struct qcow2_create_opts *opts, const char *resolve_dir, uint64_t *ret_size,
                         char *ret_format, size_t fmtlen, struct berth_error *err)
{
    _cleanup_free_ char *path = NULL;
    if (opts->backing[0] != '/' && resolve_dir) {
        if (asprintf(&path, "%s/%s", resolve_dir, opts->backing) < 0)
            return -ENOMEM;
    } else {
        path = strdup(opts->backing);
        if (!path)
            return -ENOMEM;
    }
    /* Opening the whole chain validates it (formats, loops) before anything points at it. */
    _cleanup_disk_ struct disk *b = NULL;
    int r = disk_open(path, opts->backing_format, true, &b, err);
    if (r < 0)
        return berth_error_prefix(err, r, "backing file: ");
    *ret_size = b->size;
    snprintf(ret_format, fmtlen, "%s", b->ops->format);
    return 0;
}

int qcow2_template_new(const struct qcow2_create_opts *opts, const char *resolve_dir, struct qcow2_template **ret,
                       struct berth_error *err)
{
    unsigned cb = opts->cluster_bits ? opts->cluster_bits : QCOW2_DEFAULT_CLUSTER_BITS;
    if (cb < QCOW2_MIN_CLUSTER_BITS || cb > QCOW2_MAX_CLUSTER_BITS)
        return berth_error_set(err, -EINVAL, "cluster size must be a power of two from 512 bytes to 2 MiB");
    unsigned rbits = opts->refcount_bits ? opts->refcount_bits : 16;
    if (rbits > 64 || (rbits & (rbits - 1)))
        return berth_error_set(err, -EINVAL, "refcount bits must be a power of two from 1 to 64");
    unsigned order = (unsigned) __builtin_ctz(rbits);
    uint64_t size = opts->size;
    char fmt[32] = "";
    if (opts->backing) {
        if (!opts->backing[0] || strlen(opts->backing) > 1023)
            return berth_error_set(err, -EINVAL, "backing file name must be 1..1023 bytes");
        uint64_t bsize = 0;
        int r = backing_facts(opts, resolve_dir, &bsize, fmt, sizeof(fmt), err);
        if (r < 0)
            return r;
        if (!size)
            size = bsize;
    }
    if (size > QCOW2_MAX_VIRTUAL_SIZE)
        return berth_error_set(err, -EINVAL, "size: %llu bytes is too large (limit 2^55)", (unsigned long long) size);
    uint64_t C = 1ull << cb;
    uint64_t l1_size = qcow2_l1_needed(size, cb);
    if (l1_size * 8 > QCOW2_MAX_L1_BYTES)
        return berth_error_set(err, -EINVAL,
                               "size: too large for %llu-byte clusters (L1 table over 32 MiB); use bigger clusters",
                               (unsigned long long) C);
    uint64_t l1_c = l1_size ? (l1_size * 8 + C - 1) / C : 1;
    uint64_t rb_entries = (C * 8) >> order;
    uint64_t rt_c = 1, rb_c = 1, total;
    for (;;) {
        total = 1 + rt_c + rb_c + l1_c;
        uint64_t rb_need = (total + rb_entries - 1) / rb_entries;
        uint64_t rt_need = (rb_need * 8 + C - 1) / C;
        if (rb_need <= rb_c && rt_need <= rt_c)
            break;
        rb_c = rb_need > rb_c ? rb_need : rb_c;
        rt_c = rt_need > rt_c ? rt_need : rt_c;
    }
    _cleanup_(qcow2_template_freep) struct qcow2_template *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->sync = opts->sync;
    t->rt_off = C;
    t->rb_off = (1 + rt_c) * C;
    uint64_t l1_off = (1 + rt_c + rb_c) * C;
    t->file_len = total * C;
    t->header = calloc(1, C);
    t->rt_len = rb_c * 8;
    t->rt = malloc(t->rt_len);
    t->rb_len = (total * rbits + 7) / 8;
    t->rb = calloc(1, t->rb_len + 8);
    if (!t->header || !t->rt || !t->rb)
        return -ENOMEM;
    int n =
        qcow2_header_build(t->header, C, cb, size, order, (uint32_t) l1_size, l1_off, t->rt_off, (uint32_t) rt_c,
                           opts->backing, opts->backing ? (opts->backing_format ? opts->backing_format : fmt) : NULL);
    if (n < 0)
        return berth_error_set(err, n, "backing file name does not fit in the header cluster; use bigger clusters");
    t->header_len = (size_t) n;
    for (uint64_t i = 0; i < rb_c; i++)
        be64_store(t->rt + i * 8, t->rb_off + i * C);
    /* The blocks are contiguous, so their entries form one array. */
    for (uint64_t i = 0; i < total; i++)
        qcow2_refcount_set_entry(t->rb, i, order, 1);
    *ret = TAKE_PTR(t);
    return 0;
}

int qcow2_template_create(const struct qcow2_template *t, const char *path, struct berth_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return berth_error_errno(err, -errno, "%s", path);
    int r = qcow2_pwrite(fd, t->header, t->header_len, 0);
    if (r >= 0)
        r = qcow2_pwrite(fd, t->rt, t->rt_len, t->rt_off);
    if (r >= 0)
        r = qcow2_pwrite(fd, t->rb, t->rb_len, t->rb_off);
    if (r >= 0 && ftruncate(fd, (off_t) t->file_len) < 0)
        r = -errno;
    if (r >= 0 && t->sync && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r >= 0)
        r = -errno;
    if (r >= 0 && t->sync) {
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
            r = -ENOMEM;
        else {
            int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                if (fsync(dfd) < 0)
                    r = -errno;
                close(dfd);
            }
        }
    }
    if (r < 0) {
        unlink(path);
        return berth_error_errno(err, r, "%s: write", path);
    }
    return 0;
}

int qcow2_create(const char *path, const struct qcow2_create_opts *opts, struct berth_error *err)
{
    _cleanup_free_ char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    _cleanup_(qcow2_template_freep) struct qcow2_template *t = NULL;
    int r = qcow2_template_new(opts, dirname(copy), &t, err);
    if (r < 0)
        return berth_error_prefix(err, r, "%s: ", path);
    return qcow2_template_create(t, path, err);
}

static int resize_locked(struct qcow2 *q, uint64_t new_size, struct berth_error *err)
{
    uint64_t need = qcow2_l1_needed(new_size, q->cluster_bits);
    if (need * 8 > QCOW2_MAX_L1_BYTES)
        return berth_error_set(err, -EFBIG, "%s: size: too large for this cluster size (L1 table over 32 MiB)",
                               q->path);
    uint8_t h[24];
    if (need <= q->l1_size) {
        be64_store(h, new_size);
        int r = qcow2_pwrite(q->fd, h, 8, 24);
        return r < 0 ? r : fdatasync(q->fd) < 0 ? -errno : 0;
    }
    uint64_t old_clusters = ((uint64_t) q->l1_size * 8 + q->cluster_size - 1) >> q->cluster_bits;
    /* Not ARRAY_RESERVE: the L1 table is exactly as long as the image size needs (l1_size is
     * written to the header and the whole table to disk), so it grows to need and no further. */
    uint64_t *l1 = realloc(q->l1, need * 8);
    if (!l1)
        return -ENOMEM;
    memset(l1 + q->l1_size, 0, (need - q->l1_size) * 8);
    q->l1 = l1;
    int r = qcow2_flush_locked(q);
    if (r < 0)
        return r;
    _cleanup_free_ uint64_t *be = malloc(need * 8);
    if (!be)
        return -ENOMEM;
    for (uint64_t i = 0; i < need; i++)
        be[i] = __builtin_bswap64(l1[i]);
    uint64_t off = q->l1_offset;
    bool moved = q->l1_size == 0 || need > (old_clusters << q->cluster_bits) / 8;
    if (moved) {
        r = qcow2_alloc_clusters(q, (need * 8 + q->cluster_size - 1) >> q->cluster_bits, &off);
        if (r < 0)
            return r;
    }
    /* New table (or new tail) durable, with its refcounts, before the header points at it. */
    r = qcow2_pwrite(q->fd, be, need * 8, off);
    if (r < 0)
        return r;
    r = qcow2_refcounts_persist(q);
    if (r < 0)
        return r;
    be64_store(h, new_size);
    be32_store(h + 8, 0);
    be32_store(h + 12, (uint32_t) need);
    be64_store(h + 16, off);
    r = qcow2_pwrite(q->fd, h, sizeof(h), 24);
    if (r < 0)
        return r;
    if (fdatasync(q->fd) < 0)
        return -errno;
    if (moved && q->l1_size)
        r = qcow2_free_later(q, q->l1_offset, old_clusters << q->cluster_bits);
    q->l1_offset = off;
    q->l1_size = (uint32_t) need;
    if (r < 0)
        return r;
    return qcow2_flush_locked(q);
}

int qcow2_resize(const char *path, uint64_t new_size, struct berth_error *err)
{
    struct qcow2_open_opts o = {.no_backing = true};
    _cleanup_disk_ struct disk *d = NULL;
    int r = qcow2_open(path, &o, &d, err);
    if (r < 0)
        return r;
    struct qcow2 *q = d->priv;
    if (new_size < q->size)
        return berth_error_set(err, -ENOTSUP, "%s: shrinking is not supported (%llu < %llu bytes)", path,
                               (unsigned long long) new_size, (unsigned long long) q->size);
    if (new_size > QCOW2_MAX_VIRTUAL_SIZE)
        return berth_error_set(err, -EINVAL, "%s: size: %llu bytes is too large", path, (unsigned long long) new_size);
    pthread_mutex_lock(&q->lock);
    r = resize_locked(q, new_size, err);
    if (r >= 0)
        q->size = d->size = new_size;
    pthread_mutex_unlock(&q->lock);
    if (r < 0)
        return berth_error_errno(err, r, "%s: resize", path);
    return 0;
}
