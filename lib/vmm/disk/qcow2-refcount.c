/* qcow2 refcounts and cluster allocation.
 * Allocation only ever happens past the end of everything that exists (file end, leaked
 * refcounts past it), so a new cluster reads as zeroes until written and can never be one that
 * stale metadata on disk still points to: that is what keeps ordering simple and crash-safe. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/array.h"
#include "vmm/disk/qcow2-priv.h"

uint64_t qcow2_refcount_get_entry(const uint8_t *b, uint64_t i, unsigned order)
{
    switch (order) {
    case 0:
    case 1:
    case 2: {
        unsigned bits = 1u << order, per = 8 / bits;
        /* Sub-byte widths: entry 0 is in the least significant bits of its byte. */
        return (b[i / per] >> ((i % per) * bits)) & ((1u << bits) - 1);
    }
    case 3:
        return b[i];
    case 4:
        return be16_load(b + i * 2);
    case 5:
        return be32_load(b + i * 4);
    default:
        return be64_load(b + i * 8);
    }
}

void qcow2_refcount_set_entry(uint8_t *b, uint64_t i, unsigned order, uint64_t v)
{
    switch (order) {
    case 0:
    case 1:
    case 2: {
        unsigned bits = 1u << order, per = 8 / bits, shift = (unsigned) (i % per) * bits;
        uint8_t mask = (uint8_t) (((1u << bits) - 1) << shift);
        b[i / per] = (uint8_t) ((b[i / per] & ~mask) | ((v << shift) & mask));
        break;
    }
    case 3:
        b[i] = (uint8_t) v;
        break;
    case 4:
        be16_store(b + i * 2, (uint16_t) v);
        break;
    case 5:
        be32_store(b + i * 4, (uint32_t) v);
        break;
    default:
        be64_store(b + i * 8, v);
        break;
    }
}

int qcow2_refcount_get(struct qcow2 *q, uint64_t ci, uint64_t *ret)
{
    uint64_t rti = ci / q->rb_entries;
    uint64_t off = rti < q->rt_entries ? q->rt[rti] & ~QCOW2_RT_RESERVED : 0;
    if (!off) {
        *ret = 0;
        return 0;
    }
    uint8_t *b;
    int r = qcow2_cache_get(q, &q->rb_cache, off, false, &b);
    if (r < 0)
        return r;
    *ret = qcow2_refcount_get_entry(b, ci % q->rb_entries, q->refcount_order);
    return 0;
}

/* A bigger refcount table at the end of the file; the header points to it at the next persist. */
static int grow_table(struct qcow2 *q, uint64_t need_index)
{
    uint64_t per_cluster = q->cluster_size / 8;
    uint64_t clusters = ((need_index + 1 + per_cluster - 1) / per_cluster) * 2;
    if (clusters << q->cluster_bits > QCOW2_MAX_RT_BYTES)
        return -EFBIG;
    uint64_t entries = clusters * per_cluster;
    /* Not ARRAY_RESERVE: the in-memory table mirrors the on-disk one entry for entry (rt_entries is
     * what gets written back), and the on-disk table grows in whole clusters under a size cap. */
    uint64_t *rt = realloc(q->rt, entries * 8);
    if (!rt)
        return -ENOMEM;
    memset(rt + q->rt_entries, 0, (entries - q->rt_entries) * 8);
    q->rt = rt;
    int r = qcow2_free_later(q, q->rt_offset, (uint64_t) q->rt_clusters << q->cluster_bits);
    if (r < 0)
        return r;
    uint64_t off = q->alloc_next;
    q->alloc_next += clusters << q->cluster_bits;
    q->rt_entries = entries;
    q->rt_offset = off;
    q->rt_clusters = (uint32_t) clusters;
    q->rt_dirty = q->rt_moved = true;
    if (q->alloc_next > q->file_size)
        q->file_size = q->alloc_next;
    return qcow2_refcount_update(q, off, clusters << q->cluster_bits, +1);
}

/* Makes sure the refcount block for cluster ci exists; a new one goes at the end of the file. */
static int ensure_block(struct qcow2 *q, uint64_t ci, uint64_t *ret_off)
{
    uint64_t rti = ci / q->rb_entries;
    if (rti >= q->rt_entries) {
        int r = grow_table(q, rti);
        if (r < 0)
            return r;
    }
    uint64_t off = q->rt[rti] & ~QCOW2_RT_RESERVED;
    if (off) {
        *ret_off = off;
        return 0;
    }
    off = q->alloc_next;
    q->alloc_next += q->cluster_size;
    if (q->alloc_next > q->file_size)
        q->file_size = q->alloc_next;
    uint8_t *b;
    int r = qcow2_cache_get(q, &q->rb_cache, off, true, &b);
    if (r < 0)
        return r;
    qcow2_cache_dirty(&q->rb_cache, b, q->cluster_size);
    q->rt[rti] = off;
    q->rt_dirty = true;
    /* The block's own refcount: in itself or in another block (then recursion, bounded because
     * every block covers many clusters). */
    r = qcow2_refcount_update(q, off, q->cluster_size, +1);
    if (r < 0)
        return r;
    *ret_off = off;
    return 0;
}

int qcow2_refcount_update(struct qcow2 *q, uint64_t offset, uint64_t len, int delta)
{
    if (len == 0)
        return 0;
    uint64_t first = offset >> q->cluster_bits, last = (offset + len - 1) >> q->cluster_bits;
    for (uint64_t ci = first; ci <= last; ci++) {
        uint64_t off;
        int r;
        if (delta > 0) {
            r = ensure_block(q, ci, &off);
        } else {
            uint64_t rti = ci / q->rb_entries;
            off = rti < q->rt_entries ? q->rt[rti] & ~QCOW2_RT_RESERVED : 0;
            r = off ? 0 : -EUCLEAN;
        }
        if (r < 0)
            return r;
        uint8_t *b;
        r = qcow2_cache_get(q, &q->rb_cache, off, false, &b);
        if (r < 0)
            return r;
        uint64_t i = ci % q->rb_entries, v = qcow2_refcount_get_entry(b, i, q->refcount_order);
        if (delta > 0 && v == q->refcount_max)
            return -EOVERFLOW;
        if (delta < 0 && v == 0)
            return -EUCLEAN;
        v = delta > 0 ? v + 1 : v - 1;
        qcow2_refcount_set_entry(b, i, q->refcount_order, v);
        qcow2_cache_dirty(&q->rb_cache, b, q->cluster_size);
        /* A cluster nobody references any more gives its space back to the host. */
        if (v == 0)
            fallocate(q->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) (ci << q->cluster_bits),
                      (off_t) q->cluster_size);
    }
    return 0;
}

int qcow2_alloc_clusters(struct qcow2 *q, uint64_t n, uint64_t *ret_offset)
{
    uint64_t off = q->alloc_next;
    if (off + (n << q->cluster_bits) > (1ull << 56))
        return -EFBIG;
    q->alloc_next += n << q->cluster_bits;
    if (q->alloc_next > q->file_size)
        q->file_size = q->alloc_next;
    int r = qcow2_refcount_update(q, off, n << q->cluster_bits, +1);
    if (r < 0)
        return r;
    *ret_offset = off;
    return 0;
}

int qcow2_alloc_init(struct qcow2 *q)
{
    uint64_t end = (q->file_size + q->cluster_size - 1) & ~(q->cluster_size - 1);
    uint64_t ci_end = end >> q->cluster_bits;
    /* Refcounts past the end of the file are leaks from an interrupted allocation: step over
     * them. Bounded, because a hostile table could describe petabytes of them. */
    uint64_t scanned = 0;
    for (uint64_t rti = ci_end / q->rb_entries; rti < q->rt_entries; rti++) {
        uint64_t off = q->rt[rti] & ~QCOW2_RT_RESERVED;
        if (!off)
            continue;
        scanned += q->rb_entries;
        if (scanned > (1ull << 24))
            return -EFBIG;
        uint8_t *b;
        int r = qcow2_cache_get(q, &q->rb_cache, off, false, &b);
        if (r < 0)
            return r;
        for (uint64_t i = 0; i < q->rb_entries; i++) {
            uint64_t ci = rti * q->rb_entries + i;
            if (ci >= ci_end && qcow2_refcount_get_entry(b, i, q->refcount_order))
                ci_end = ci + 1;
        }
    }
    q->alloc_next = ci_end << q->cluster_bits;
    return 0;
}

int qcow2_refcounts_persist(struct qcow2 *q)
{
    int r = qcow2_cache_write_dirty(q, &q->rb_cache);
    if (r < 0)
        return r;
    if (q->rt_dirty) {
        size_t bytes = (size_t) q->rt_entries * 8;
        uint64_t *be = malloc(bytes);
        if (!be)
            return -ENOMEM;
        for (uint64_t i = 0; i < q->rt_entries; i++)
            be[i] = __builtin_bswap64(q->rt[i]);
        r = qcow2_pwrite(q->fd, be, bytes, q->rt_offset);
        free(be);
        if (r < 0)
            return r;
        q->rt_dirty = false;
    }
    if (q->rt_moved) {
        /* The new table must be durable before the header points at it. */
        if (fdatasync(q->fd) < 0)
            return -errno;
        uint8_t h[12];
        be64_store(h, q->rt_offset);
        be32_store(h + 8, q->rt_clusters);
        r = qcow2_pwrite(q->fd, h, sizeof(h), 48);
        if (r < 0)
            return r;
        q->rt_moved = false;
    }
    return fdatasync(q->fd) < 0 ? -errno : 0;
}

int qcow2_free_later(struct qcow2 *q, uint64_t offset, uint64_t len)
{
    /* A discard of a long range frees contiguous clusters: one entry for all of them. */
    if (q->n_pending) {
        struct qcow2_free *last = &q->pending[q->n_pending - 1];
        if (last->offset + last->len == offset && !(offset & (q->cluster_size - 1))) {
            last->len += len;
            return 0;
        }
    }
    if (ARRAY_RESERVE(q->pending, q->cap_pending, q->n_pending + 1, 64) < 0)
        return -ENOMEM;
    q->pending[q->n_pending++] = (struct qcow2_free){offset, len};
    return 0;
}
