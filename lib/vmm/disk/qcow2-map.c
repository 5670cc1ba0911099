/* qcow2 cluster mapping: L1 entries -> L2 tables -> cluster descriptors, every value validated
 * before it is used; compressed cluster decoding. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "vmm/disk/qcow2-priv.h"

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int qcow2_check_host(struct qcow2 *q, uint64_t host, const char *what, struct berth_error *err)
{
    if (host & (q->cluster_size - 1))
        return berth_error_set(err, -EUCLEAN, "%s: %s: offset 0x%llx is not cluster aligned", q->path, what,
                               (unsigned long long) host);
    if (host >= q->file_size)
        return berth_error_set(err, -EUCLEAN, "%s: %s: offset 0x%llx lies beyond the end of the file (0x%llx)", q->path,
                               what, (unsigned long long) host, (unsigned long long) q->file_size);
    /* Guest data or an L2 table on top of the header or a top-level table would let a guest
     * write overwrite the image's own structure. */
    if (host < q->cluster_size || overlaps(host, q->cluster_size, q->l1_offset, (uint64_t) q->l1_size * 8) ||
        overlaps(host, q->cluster_size, q->rt_offset, (uint64_t) q->rt_clusters << q->cluster_bits))
        return berth_error_set(err, -EUCLEAN, "%s: %s: offset 0x%llx overlaps the header, L1 or refcount table",
                               q->path, what, (unsigned long long) host);
    return 0;
}

int qcow2_decode_l2(struct qcow2 *q, uint64_t entry, struct qcow2_map *m, struct berth_error *err)
{
    *m = (struct qcow2_map){.entry = entry};
    if (entry & QCOW2_OFLAG_COMPRESSED) {
        unsigned x = 62 - (q->cluster_bits - 8);
        uint64_t off = entry & ((1ull << x) - 1);
        uint64_t extra = (entry >> x) & ((1ull << (q->cluster_bits - 8)) - 1);
        m->kind = QCOW2_COMPRESSED;
        m->c_offset = off;
        m->c_len = (extra + 1) * 512 - (off & 511);
        if (entry & QCOW2_OFLAG_COPIED)
            return berth_error_set(err, -EUCLEAN, "%s: L2 entry 0x%llx: compressed cluster with the copied flag",
                                   q->path, (unsigned long long) entry);
        if (off >> 56 || off < q->cluster_size || off >= q->file_size)
            return berth_error_set(err, -EUCLEAN,
                                   "%s: L2 entry 0x%llx: compressed data offset 0x%llx lies outside the file", q->path,
                                   (unsigned long long) entry, (unsigned long long) off);
        return 0;
    }
    if (entry & QCOW2_L2_STD_RESERVED || (q->version < 3 && entry & QCOW2_OFLAG_ZERO))
        return berth_error_set(err, -EUCLEAN, "%s: L2 entry 0x%llx: reserved bits set", q->path,
                               (unsigned long long) entry);
    m->host = entry & QCOW2_OFFSET_MASK;
    if (entry & QCOW2_OFLAG_ZERO) {
        m->kind = QCOW2_ZERO;
        return m->host ? qcow2_check_host(q, m->host, "L2 entry (preallocated zero cluster)", err) : 0;
    }
    if (!m->host) {
        if (entry & QCOW2_OFLAG_COPIED)
            return berth_error_set(err, -EUCLEAN,
                                   "%s: L2 entry 0x%llx: offset 0 with the copied flag (external data file?)", q->path,
                                   (unsigned long long) entry);
        m->kind = QCOW2_UNALLOCATED;
        return 0;
    }
    m->kind = QCOW2_NORMAL;
    return qcow2_check_host(q, m->host, "L2 entry (data cluster)", err);
}

int qcow2_map_get(struct qcow2 *q, uint64_t vcluster, bool alloc, struct qcow2_map *m, uint64_t **ret_slot,
                  struct berth_error *err)
{
    uint64_t l1i = vcluster / q->l2_entries, l2i = vcluster % q->l2_entries;
    if (ret_slot)
        *ret_slot = NULL;
    if (l1i >= q->l1_size)
        return berth_error_set(err, -EINVAL, "%s: guest cluster %llu lies past the L1 table", q->path,
                               (unsigned long long) vcluster);
    uint64_t l1e = q->l1[l1i];
    if (l1e & QCOW2_L1_RESERVED)
        return berth_error_set(err, -EUCLEAN, "%s: L1 entry %llu: reserved bits set (0x%llx)", q->path,
                               (unsigned long long) l1i, (unsigned long long) l1e);
    uint64_t l2off = l1e & QCOW2_OFFSET_MASK;
    uint8_t *tbl;
    int r;
    if (!l2off) {
        if (!alloc) {
            *m = (struct qcow2_map){.kind = QCOW2_UNALLOCATED};
            return 0;
        }
        r = qcow2_alloc_clusters(q, 1, &l2off);
        if (r < 0)
            return berth_error_errno(err, r, "%s: allocate L2 table", q->path);
        r = qcow2_cache_get(q, &q->l2_cache, l2off, true, &tbl);
        if (r < 0)
            return berth_error_errno(err, r, "%s: L2 table", q->path);
        qcow2_cache_dirty(&q->l2_cache, tbl, q->cluster_size);
        q->l1[l1i] = l2off | QCOW2_OFLAG_COPIED;
        if (q->l1_dirty_hi == q->l1_dirty_lo) {
            q->l1_dirty_lo = (uint32_t) l1i;
            q->l1_dirty_hi = (uint32_t) l1i + 1;
        } else {
            if (l1i < q->l1_dirty_lo)
                q->l1_dirty_lo = (uint32_t) l1i;
            if (l1i + 1 > q->l1_dirty_hi)
                q->l1_dirty_hi = (uint32_t) l1i + 1;
        }
    } else {
        /* The message naming the entry is only formatted on failure: this runs on every I/O. */
        if (qcow2_check_host(q, l2off, "L2 table", NULL) < 0) {
            char what[64];
            snprintf(what, sizeof(what), "L1 entry %llu (L2 table)", (unsigned long long) l1i);
            return qcow2_check_host(q, l2off, what, err);
        }
        if (alloc && !(l1e & QCOW2_OFLAG_COPIED))
            return berth_error_set(err, -ENOTSUP,
                                   "%s: L1 entry %llu: shared L2 table (internal snapshot) cannot be written", q->path,
                                   (unsigned long long) l1i);
        r = qcow2_cache_get(q, &q->l2_cache, l2off, false, &tbl);
        if (r < 0)
            return berth_error_errno(err, r, "%s: read L2 table at 0x%llx", q->path, (unsigned long long) l2off);
    }
    uint64_t *slot = (uint64_t *) (tbl + l2i * 8);
    r = qcow2_decode_l2(q, be64_load(slot), m, err);
    if (r < 0)
        return r;
    if (ret_slot)
        *ret_slot = slot;
    return 0;
}

int qcow2_read_compressed(struct qcow2 *q, const struct qcow2_map *m, struct berth_error *err)
{
    if (q->dbuf_desc == m->entry && m->entry)
        return 0;
    q->dbuf_desc = 0;
    uint64_t len = m->c_len;
    if (len > 2 * q->cluster_size)
        len = 2 * q->cluster_size;
    ssize_t n = qcow2_pread(q->fd, q->cbuf, len, m->c_offset);
    if (n < 0)
        return berth_error_errno(err, (int) n, "%s: read compressed cluster", q->path);
    z_stream zs = {0};
    if (inflateInit2(&zs, -15) != Z_OK)
        return berth_error_set(err, -ENOMEM, "%s: zlib init failed", q->path);
    zs.next_in = q->cbuf;
    zs.avail_in = (uInt) n;
    zs.next_out = q->dbuf;
    zs.avail_out = (uInt) q->cluster_size;
    int zr = inflate(&zs, Z_FINISH);
    bool full = zs.avail_out == 0;
    inflateEnd(&zs);
    /* Decompression stops once a whole cluster came out; trailing bytes belong to others. */
    if (!full || (zr != Z_STREAM_END && zr != Z_OK && zr != Z_BUF_ERROR))
        return berth_error_set(err, -EUCLEAN, "%s: compressed cluster at 0x%llx: corrupt deflate data", q->path,
                               (unsigned long long) m->c_offset);
    q->dbuf_desc = m->entry;
    return 0;
}
