/* qcow2 data path: reads, writes with copy-on-write from the backing chain, discard, and the
 * ordered metadata flush that makes the image crash-safe. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "vmm/disk/qcow2-priv.h"

#define MAX_IOV 64

static size_t iov_total(const struct iovec *iov, int cnt)
{
    size_t t = 0;
    for (int i = 0; i < cnt; i++)
        t += iov[i].iov_len;
    return t;
}

/* The part [off, off+len) of an iovec array, as a new array in out (at most MAX_IOV). */
static int iov_sub(const struct iovec *iov, int cnt, size_t off, size_t len, struct iovec *out)
{
    int k = 0;
    for (int i = 0; i < cnt && len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t n = iov[i].iov_len - off;
        if (n > len)
            n = len;
        out[k++] = (struct iovec){(char *) iov[i].iov_base + off, n};
        len -= n;
        off = 0;
    }
    return k;
}

static void iov_zero(const struct iovec *iov, int cnt)
{
    for (int i = 0; i < cnt; i++)
        memset(iov[i].iov_base, 0, iov[i].iov_len);
}

static void iov_to_buf(const struct iovec *iov, int cnt, uint8_t *buf)
{
    for (int i = 0; i < cnt; i++) {
        memcpy(buf, iov[i].iov_base, iov[i].iov_len);
        buf += iov[i].iov_len;
    }
}

static void iov_from_buf(const struct iovec *iov, int cnt, const uint8_t *buf)
{
    for (int i = 0; i < cnt; i++) {
        memcpy(iov[i].iov_base, buf, iov[i].iov_len);
        buf += iov[i].iov_len;
    }
}

/* Full preadv/pwritev at off; a read past the end of the file yields zeroes. */
static int pio(int fd, const struct iovec *iov, int cnt, uint64_t off, bool write)
{
    struct iovec local[MAX_IOV];
    memcpy(local, iov, sizeof(*iov) * (size_t) cnt);
    struct iovec *cur = local;
    while (cnt > 0) {
        ssize_t n = write ? pwritev(fd, cur, cnt, (off_t) off) : preadv(fd, cur, cnt, (off_t) off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {
            if (write)
                return -EIO;
            iov_zero(cur, cnt);
            return 0;
        }
        off += (uint64_t) n;
        while (cnt > 0 && (size_t) n >= cur->iov_len) {
            n -= (ssize_t) cur->iov_len;
            cur++;
            cnt--;
        }
        if (cnt > 0) {
            cur->iov_base = (char *) cur->iov_base + n;
            cur->iov_len -= (size_t) n;
        }
    }
    return 0;
}

/* Guest bytes [voff, voff+len) of an unallocated cluster: the backing file's, zeroes past it. */
static int read_backing(struct qcow2 *q, uint64_t voff, const struct iovec *iov, int cnt, size_t len)
{
    struct disk *b = q->backing;
    if (!b || voff >= b->size) {
        iov_zero(iov, cnt);
        return 0;
    }
    size_t n = b->size - voff < len ? (size_t) (b->size - voff) : len;
    struct iovec sub[MAX_IOV];
    int k = iov_sub(iov, cnt, 0, n, sub);
    int r = b->ops->readv(b, voff, sub, k);
    if (r < 0)
        return r;
    if (n < len) {
        k = iov_sub(iov, cnt, n, len - n, sub);
        iov_zero(sub, k);
    }
    return 0;
}

static int read_cluster_part(struct qcow2 *q, const struct qcow2_map *m, uint64_t voff, uint64_t in,
                             const struct iovec *iov, int cnt, size_t len)
{
    switch (m->kind) {
    case QCOW2_UNALLOCATED:
        return read_backing(q, voff, iov, cnt, len);
    case QCOW2_ZERO:
        iov_zero(iov, cnt);
        return 0;
    case QCOW2_COMPRESSED: {
        int r = qcow2_read_compressed(q, m, &q->disk->last_error);
        if (r < 0)
            return r;
        iov_from_buf(iov, cnt, q->dbuf + in);
        return 0;
    }
    case QCOW2_NORMAL:
        return pio(q->fd, iov, cnt, m->host + in, false);
    }
    return -EINVAL;
}

static int qcow2_readv(struct disk *d, uint64_t offset, const struct iovec *iov, int iovcnt)
{
    struct qcow2 *q = d->priv;
    size_t total = iov_total(iov, iovcnt);
    if (offset > d->size || total > d->size - offset)
        return -EINVAL;
    if (iovcnt > MAX_IOV)
        return -E2BIG;
    pthread_mutex_lock(&q->lock);
    berth_error_clear(&d->last_error);
    int r = 0;
    for (size_t pos = 0; pos < total && r >= 0;) {
        uint64_t voff = offset + pos, in = voff & (q->cluster_size - 1);
        size_t n = q->cluster_size - in < total - pos ? (size_t) (q->cluster_size - in) : total - pos;
        struct qcow2_map m;
        r = qcow2_map_get(q, voff >> q->cluster_bits, false, &m, NULL, &d->last_error);
        if (r < 0)
            break;
        struct iovec sub[MAX_IOV];
        int k = iov_sub(iov, iovcnt, pos, n, sub);
        r = read_cluster_part(q, &m, voff, in, sub, k, n);
        pos += n;
    }
    pthread_mutex_unlock(&q->lock);
    return r;
}

/* Writes [in, in+n) of guest cluster vc from sub, allocating and copying on write as needed. */
static int write_cluster(struct qcow2 *q, uint64_t vc, uint64_t in, const struct iovec *sub, int k, size_t n)
{
    struct qcow2_map m;
    uint64_t *slot;
    int r = qcow2_map_get(q, vc, true, &m, &slot, &q->disk->last_error);
    if (r < 0)
        return r;
    if (m.kind == QCOW2_NORMAL && (m.entry & QCOW2_OFLAG_COPIED))
        return pio(q->fd, sub, k, m.host + in, true);

    uint64_t vstart = vc << q->cluster_bits;
    bool whole = in == 0 && n == q->cluster_size;
    bool zeros = m.kind == QCOW2_ZERO || (m.kind == QCOW2_UNALLOCATED && (!q->backing || vstart >= q->backing->size));
    uint64_t host;
    bool fresh;
    if (m.kind == QCOW2_ZERO && m.host && (m.entry & QCOW2_OFLAG_COPIED)) {
        host = m.host; /* a preallocated zero cluster: ours, but not zeroed on disk */
        fresh = false;
    } else {
        r = qcow2_alloc_clusters(q, 1, &host);
        if (r < 0)
            return r;
        fresh = true;
    }
    if (whole) {
        r = pio(q->fd, sub, k, host, true);
    } else if (zeros && fresh) {
        /* Clusters are allocated past the end of the file: the rest already reads as zeroes. */
        r = pio(q->fd, sub, k, host + in, true);
    } else {
        if (zeros) {
            memset(q->cow_buf, 0, q->cluster_size);
        } else {
            struct iovec all = {q->cow_buf, q->cluster_size};
            r = read_cluster_part(q, &m, vstart, 0, &all, 1, q->cluster_size);
            if (r < 0)
                return r;
        }
        iov_to_buf(sub, k, q->cow_buf + in);
        r = qcow2_pwrite(q->fd, q->cow_buf, q->cluster_size, host);
    }
    if (r < 0)
        return r;
    /* What the entry pointed to before is released once the new entry is durable. */
    if (m.kind == QCOW2_COMPRESSED)
        r = qcow2_free_later(q, m.c_offset, m.c_len);
    else if ((m.kind == QCOW2_NORMAL || m.kind == QCOW2_ZERO) && m.host && m.host != host)
        r = qcow2_free_later(q, m.host, q->cluster_size);
    if (r < 0)
        return r;
    be64_store(slot, host | QCOW2_OFLAG_COPIED);
    qcow2_cache_dirty(&q->l2_cache, slot, q->cluster_size);
    return 0;
}

static int writev_locked(struct qcow2 *q, uint64_t offset, const struct iovec *iov, int iovcnt, size_t total)
{
    for (size_t pos = 0; pos < total;) {
        uint64_t voff = offset + pos, in = voff & (q->cluster_size - 1);
        size_t n = q->cluster_size - in < total - pos ? (size_t) (q->cluster_size - in) : total - pos;
        struct iovec sub[MAX_IOV];
        int k = iov_sub(iov, iovcnt, pos, n, sub);
        int r = write_cluster(q, voff >> q->cluster_bits, in, sub, k, n);
        if (r < 0)
            return r;
        pos += n;
    }
    return 0;
}

static int qcow2_writev(struct disk *d, uint64_t offset, const struct iovec *iov, int iovcnt)
{
    struct qcow2 *q = d->priv;
    size_t total = iov_total(iov, iovcnt);
    if (offset > d->size || total > d->size - offset)
        return -EINVAL;
    if (iovcnt > MAX_IOV)
        return -E2BIG;
    if (q->read_only)
        return -EROFS;
    pthread_mutex_lock(&q->lock);
    berth_error_clear(&d->last_error);
    int r = writev_locked(q, offset, iov, iovcnt, total);
    if (r >= 0 && q->n_pending > QCOW2_MAX_PENDING)
        r = qcow2_flush_locked(q);
    pthread_mutex_unlock(&q->lock);
    return r;
}

static int discard_cluster(struct qcow2 *q, uint64_t vc)
{
    bool backed = q->backing && (vc << q->cluster_bits) < q->backing->size;
    if (backed && q->version < 3)
        return -EOPNOTSUPP; /* v2 has no zero flag: the backing data would show through */
    struct qcow2_map m;
    uint64_t *slot;
    int r = qcow2_map_get(q, vc, backed, &m, &slot, &q->disk->last_error);
    if (r < 0 || !slot)
        return r;
    uint64_t entry = backed ? QCOW2_OFLAG_ZERO : 0;
    if (m.entry == entry)
        return 0;
    if (m.kind == QCOW2_COMPRESSED)
        r = qcow2_free_later(q, m.c_offset, m.c_len);
    else if (m.host)
        r = qcow2_free_later(q, m.host, q->cluster_size);
    if (r < 0)
        return r;
    be64_store(slot, entry);
    qcow2_cache_dirty(&q->l2_cache, slot, q->cluster_size);
    return 0;
}

static int qcow2_discard(struct disk *d, uint64_t offset, uint64_t len)
{
    struct qcow2 *q = d->priv;
    if (q->read_only)
        return -EROFS;
    pthread_mutex_lock(&q->lock);
    berth_error_clear(&d->last_error);
    int r = 0;
    for (uint64_t pos = 0; pos < len && r >= 0;) {
        uint64_t voff = offset + pos, in = voff & (q->cluster_size - 1);
        uint64_t n = q->cluster_size - in < len - pos ? q->cluster_size - in : len - pos;
        if (in == 0 && n == q->cluster_size) {
            r = discard_cluster(q, voff >> q->cluster_bits);
        } else {
            /* A partial cluster reads back as zeroes because zeroes are written to it. */
            struct qcow2_map m = {0};
            r = qcow2_map_get(q, voff >> q->cluster_bits, false, &m, NULL, &d->last_error);
            bool reads_zero =
                m.kind == QCOW2_ZERO || (m.kind == QCOW2_UNALLOCATED && (!q->backing || voff >= q->backing->size));
            if (r >= 0 && !reads_zero) {
                struct iovec z = {q->zero_buf, (size_t) n};
                r = writev_locked(q, voff, &z, 1, (size_t) n);
            }
        }
        pos += n;
    }
    /* A guest that discards a lot and never flushes must not grow the list without bound. */
    if (r >= 0 && q->n_pending > QCOW2_MAX_PENDING)
        r = qcow2_flush_locked(q);
    pthread_mutex_unlock(&q->lock);
    return r;
}

static int write_l1(struct qcow2 *q)
{
    uint32_t lo = q->l1_dirty_lo, hi = q->l1_dirty_hi;
    size_t n = hi - lo;
    _cleanup_free_ uint64_t *be = malloc(n * 8);
    if (!be)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        be[i] = __builtin_bswap64(q->l1[lo + i]);
    int r = qcow2_pwrite(q->fd, be, n * 8, q->l1_offset + (uint64_t) lo * 8);
    if (r < 0)
        return r;
    q->l1_dirty_lo = q->l1_dirty_hi = 0;
    return 0;
}

int qcow2_flush_locked(struct qcow2 *q)
{
    if (q->read_only)
        return 0;
    bool meta = q->rt_dirty || q->rt_moved || q->l1_dirty_hi != q->l1_dirty_lo || q->n_pending ||
                qcow2_cache_any_dirty(&q->l2_cache) || qcow2_cache_any_dirty(&q->rb_cache);
    if (!meta)
        return fdatasync(q->fd) < 0 ? -errno : 0;
    /* Keep the file as long as everything allocated (the last cluster may be a hole). */
    struct stat st;
    if (fstat(q->fd, &st) == 0 && (uint64_t) st.st_size < q->alloc_next && ftruncate(q->fd, (off_t) q->alloc_next) < 0)
        return -errno;
    /* 1. refcounts of everything new (and the data itself) durable, */
    int r = qcow2_refcounts_persist(q);
    if (r < 0)
        return r;
    /* 2. then the L2 tables that reference them, */
    r = qcow2_cache_write_dirty(q, &q->l2_cache);
    if (r < 0)
        return r;
    /* 3. then the L1 entries that reference new L2 tables, */
    if (q->l1_dirty_hi != q->l1_dirty_lo) {
        if (fdatasync(q->fd) < 0)
            return -errno;
        r = write_l1(q);
        if (r < 0)
            return r;
    }
    /* 4. and only once nothing references them any more, the refcounts of what was freed. */
    if (q->n_pending) {
        if (fdatasync(q->fd) < 0)
            return -errno;
        int bad = 0;
        for (size_t i = 0; i < q->n_pending; i++) {
            r = qcow2_refcount_update(q, q->pending[i].offset, q->pending[i].len, -1);
            if (r == -EUCLEAN)
                bad = r; /* already zero: nothing to give back; keep going */
            else if (r < 0)
                return r;
        }
        q->n_pending = 0;
        r = qcow2_cache_write_dirty(q, &q->rb_cache);
        if (r < 0)
            return r;
        (void) bad;
    }
    return fdatasync(q->fd) < 0 ? -errno : 0;
}

static int qcow2_flush(struct disk *d)
{
    struct qcow2 *q = d->priv;
    pthread_mutex_lock(&q->lock);
    int r = qcow2_flush_locked(q);
    pthread_mutex_unlock(&q->lock);
    return r;
}

static void qcow2_close(struct disk *d)
{
    struct qcow2 *q = d->priv;
    if (q) {
        if (q->fd >= 0) {
            qcow2_flush_locked(q);
            close(q->fd);
        }
        disk_close(q->backing);
        qcow2_cache_free(&q->l2_cache);
        qcow2_cache_free(&q->rb_cache);
        free(q->l1);
        free(q->rt);
        free(q->pending);
        free(q->cbuf);
        free(q->dbuf);
        free(q->cow_buf);
        free(q->zero_buf);
        free(q->backing_name);
        free(q->backing_format);
        free(q->backing_root);
        free(q->path);
        pthread_mutex_destroy(&q->lock);
        free(q);
    }
    free(d->path);
    free(d);
}

const struct disk_ops qcow2_ops = {
    .format = "qcow2",
    .readv = qcow2_readv,
    .writev = qcow2_writev,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .close = qcow2_close,
};
