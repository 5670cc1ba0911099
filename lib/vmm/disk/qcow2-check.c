/* qcow2 consistency check, as `qemu-img check` does it: count every reference to every host
 * cluster (header, tables, data), then compare with the stored refcounts. A refcount below its
 * references is a corruption (the cluster could be reused while in use), above is a leak. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "vmm/disk/qcow2-priv.h"

#define MAX_CHECK_CLUSTERS (64ull << 20)

struct check {
    struct qcow2 *q;
    struct qcow2_check_result *res;
    uint16_t *refs;
    uint8_t *walked; /* L2 tables already walked (shared between snapshots): once each */
    uint64_t n;
};

static void problem(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct check *c, const char *fmt, ...)
{
    c->res->corruptions++;
    if (c->res->first_problem[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->res->first_problem, sizeof(c->res->first_problem), fmt, ap);
    va_end(ap);
}

static void add_ref(struct check *c, uint64_t off, uint64_t len, const char *what)
{
    if (!len)
        return;
    uint64_t first = off >> c->q->cluster_bits, last = (off + len - 1) >> c->q->cluster_bits;
    for (uint64_t ci = first; ci <= last; ci++) {
        if (ci >= c->n) {
            problem(c, "%s at 0x%llx lies beyond the end of the file", what, (unsigned long long) off);
            return;
        }
        if (c->refs[ci] < UINT16_MAX)
            c->refs[ci]++;
    }
}

static int walk_l2(struct check *c, uint64_t l1i, uint64_t l2off, uint8_t *tbl, bool active)
{
    struct qcow2 *q = c->q;
    ssize_t n = qcow2_pread(q->fd, tbl, q->cluster_size, l2off);
    if (n < 0) {
        c->res->check_errors++;
        return 0;
    }
    memset(tbl + n, 0, q->cluster_size - (size_t) n);
    for (uint64_t j = 0; j < q->l2_entries; j++) {
        uint64_t e = be64_load(tbl + j * 8);
        if (!e)
            continue;
        struct qcow2_map m;
        struct berth_error err = {0};
        if (qcow2_decode_l2(q, e, &m, &err) < 0) {
            problem(c, "L2 table %llu entry %llu: %s", (unsigned long long) l1i, (unsigned long long) j,
                    berth_error_message(&err));
            continue;
        }
        if (m.kind == QCOW2_COMPRESSED) {
            add_ref(c, m.c_offset, m.c_len, "compressed cluster");
            c->res->allocated_clusters += active;
        } else if (m.host) {
            add_ref(c, m.host, q->cluster_size, "data cluster");
            if (m.kind == QCOW2_NORMAL)
                c->res->allocated_clusters += active;
        }
    }
    return 0;
}

/* The copied flag must say exactly whether the refcount is one. */
static void check_copied(struct check *c, uint64_t entry, uint64_t host, const char *what)
{
    uint64_t rc;
    if (qcow2_refcount_get(c->q, host >> c->q->cluster_bits, &rc) < 0) {
        c->res->check_errors++;
        return;
    }
    if (!!(entry & QCOW2_OFLAG_COPIED) != (rc == 1))
        problem(c, "%s at 0x%llx: copied flag %s but refcount is %llu", what, (unsigned long long) host,
                entry & QCOW2_OFLAG_COPIED ? "set" : "clear", (unsigned long long) rc);
}

static void walk_copied(struct check *c, uint8_t *tbl)
{
    struct qcow2 *q = c->q;
    for (uint64_t i = 0; i < q->l1_size; i++) {
        uint64_t l2off = q->l1[i] & QCOW2_OFFSET_MASK;
        if (!l2off || qcow2_check_host(q, l2off, "L2", NULL) < 0)
            continue;
        check_copied(c, q->l1[i], l2off, "L2 table");
        ssize_t n = qcow2_pread(q->fd, tbl, q->cluster_size, l2off);
        if (n < 0)
            continue;
        memset(tbl + n, 0, q->cluster_size - (size_t) n);
        for (uint64_t j = 0; j < q->l2_entries; j++) {
            uint64_t e = be64_load(tbl + j * 8);
            struct qcow2_map m;
            if (e && qcow2_decode_l2(q, e, &m, NULL) == 0 && m.kind == QCOW2_NORMAL)
                check_copied(c, e, m.host, "data cluster");
        }
    }
}

static int compare(struct check *c, bool repair)
{
    struct qcow2 *q = c->q;
    uint64_t end_ci = 0;
    for (uint64_t ci = 0; ci < c->n; ci++)
        if (c->refs[ci])
            end_ci = ci + 1;
    /* Every cluster the refcount structure describes, plus every referenced one. */
    uint64_t limit = q->rt_entries * q->rb_entries;
    if (limit < c->n)
        limit = c->n;
    uint64_t past_end = 0;
    for (uint64_t ci = 0; ci < limit; ci++) {
        uint64_t rti = ci / q->rb_entries;
        if (ci >= c->n && ++past_end > (1ull << 22)) {
            problem(c, "refcount table describes too many clusters past the end of the file");
            break;
        }
        if (rti < q->rt_entries && !(q->rt[rti] & ~QCOW2_RT_RESERVED) && ci % q->rb_entries == 0 && ci >= c->n) {
            ci += q->rb_entries - 1; /* no block, nothing referenced here */
            continue;
        }
        uint64_t rc, want = ci < c->n ? c->refs[ci] : 0;
        if (qcow2_refcount_get(q, ci, &rc) < 0) {
            c->res->check_errors++;
            continue;
        }
        if (want > q->refcount_max) {
            problem(c, "cluster %llu: refcount overflow (%llu references, at most %llu)", (unsigned long long) ci,
                    (unsigned long long) want, (unsigned long long) q->refcount_max);
        } else if (rc < want) {
            problem(c, "cluster %llu: refcount %llu is below its %llu references", (unsigned long long) ci,
                    (unsigned long long) rc, (unsigned long long) want);
        } else if (rc > want) {
            c->res->leaks++;
            if (repair) {
                uint64_t off = q->rt[rti] & ~QCOW2_RT_RESERVED;
                uint8_t *b;
                if (qcow2_cache_get(q, &q->rb_cache, off, false, &b) < 0) {
                    c->res->check_errors++;
                    continue;
                }
                qcow2_refcount_set_entry(b, ci % q->rb_entries, q->refcount_order, want);
                qcow2_cache_dirty(&q->rb_cache, b, q->cluster_size);
                c->res->leaks_fixed++;
            }
        }
        if (rc && ci + 1 > end_ci)
            end_ci = ci + 1;
    }
    c->res->image_end_offset = end_ci << q->cluster_bits;
    if (repair && c->res->leaks_fixed) {
        int r = qcow2_cache_write_dirty(q, &q->rb_cache);
        if (r < 0 || fdatasync(q->fd) < 0)
            return r < 0 ? r : -errno;
    }
    return 0;
}

/* References from one L1 table (the active one or a snapshot's). */
static void count_l1(struct check *c, const uint64_t *l1, uint32_t l1_size, const char *which, uint8_t *tbl)
{
    struct qcow2 *q = c->q;
    for (uint64_t i = 0; i < l1_size; i++) {
        uint64_t e = l1[i], l2off = e & QCOW2_OFFSET_MASK;
        if (e & QCOW2_L1_RESERVED) {
            problem(c, "%s entry %llu: reserved bits set (0x%llx)", which, (unsigned long long) i,
                    (unsigned long long) e);
            continue;
        }
        if (!l2off)
            continue;
        struct berth_error e2 = {0};
        char what[96];
        snprintf(what, sizeof(what), "%s entry %llu (L2 table)", which, (unsigned long long) i);
        if (qcow2_check_host(q, l2off, what, &e2) < 0) {
            problem(c, "%s", berth_error_message(&e2));
            continue;
        }
        add_ref(c, l2off, q->cluster_size, "L2 table");
        uint64_t ci = l2off >> q->cluster_bits;
        if (ci < c->n && !c->walked[ci]) {
            c->walked[ci] = 1;
            walk_l2(c, i, l2off, tbl, l1 == q->l1);
        }
    }
}

/* Internal snapshots: their table, and each one's L1 table and what it references. */
static void count_snapshots(struct check *c, uint8_t *tbl)
{
    struct qcow2 *q = c->q;
    uint64_t off = q->snapshots_offset;
    for (uint32_t s = 0; s < q->nb_snapshots; s++) {
        uint8_t h[40];
        if (qcow2_pread(q->fd, h, sizeof(h), off) != (ssize_t) sizeof(h)) {
            problem(c, "snapshot %u: entry lies past the end of the file", s);
            return;
        }
        uint64_t l1_off = be64_load(h);
        uint32_t l1_size = be32_load(h + 8);
        uint64_t len = 40 + (uint64_t) be32_load(h + 36) + be16_load(h + 12) + be16_load(h + 14);
        off += (len + 7) & ~7ull;
        if (l1_off & (q->cluster_size - 1) || (uint64_t) l1_size * 8 > QCOW2_MAX_L1_BYTES ||
            l1_off + (uint64_t) l1_size * 8 > q->file_size) {
            problem(c, "snapshot %u: L1 table (0x%llx, %u entries) is invalid", s, (unsigned long long) l1_off,
                    l1_size);
            continue;
        }
        if (!l1_size)
            continue;
        add_ref(c, l1_off, (uint64_t) l1_size * 8, "snapshot L1 table");
        uint64_t *l1 = malloc((size_t) l1_size * 8);
        if (!l1 || qcow2_pread(q->fd, l1, (size_t) l1_size * 8, l1_off) != (ssize_t) l1_size * 8) {
            free(l1);
            c->res->check_errors++;
            continue;
        }
        for (uint32_t i = 0; i < l1_size; i++)
            l1[i] = __builtin_bswap64(l1[i]);
        char which[48];
        snprintf(which, sizeof(which), "snapshot %u L1", s);
        count_l1(c, l1, l1_size, which, tbl);
        free(l1);
    }
    if (off > q->file_size)
        problem(c, "snapshot table runs past the end of the file");
    else
        add_ref(c, q->snapshots_offset, off - q->snapshots_offset, "snapshot table");
}

/* Counts the references to every host cluster of q into c (c->refs of c->n clusters). */
static void count_refs(struct check *c, uint8_t *tbl)
{
    struct qcow2 *q = c->q;
    add_ref(c, 0, q->cluster_size, "header");
    add_ref(c, q->l1_offset, (uint64_t) q->l1_size * 8, "L1 table");
    add_ref(c, q->rt_offset, (uint64_t) q->rt_clusters << q->cluster_bits, "refcount table");
    for (uint64_t i = 0; i < q->rt_entries; i++)
        if (q->rt[i] & ~QCOW2_RT_RESERVED)
            add_ref(c, q->rt[i] & ~QCOW2_RT_RESERVED, q->cluster_size, "refcount block");
    count_l1(c, q->l1, q->l1_size, "L1", tbl);
    if (q->nb_snapshots)
        count_snapshots(c, tbl);
}

static int set_refcount(struct qcow2 *q, uint64_t ci, uint64_t v)
{
    uint64_t rti = ci / q->rb_entries;
    uint64_t off = rti < q->rt_entries ? q->rt[rti] & ~QCOW2_RT_RESERVED : 0;
    if (!off)
        return v ? -EUCLEAN : 0;
    uint8_t *b;
    int r = qcow2_cache_get(q, &q->rb_cache, off, false, &b);
    if (r < 0)
        return r;
    if (qcow2_refcount_get_entry(b, ci % q->rb_entries, q->refcount_order) != v) {
        qcow2_refcount_set_entry(b, ci % q->rb_entries, q->refcount_order, v);
        qcow2_cache_dirty(&q->rb_cache, b, q->cluster_size);
    }
    return 0;
}

int qcow2_rebuild_refcounts(struct qcow2 *q, struct berth_error *err)
{
    uint64_t n = ((q->file_size + q->cluster_size - 1) >> q->cluster_bits) + 1;
    if (n > MAX_CHECK_CLUSTERS)
        return berth_error_set(err, -EFBIG, "%s: too many clusters to rebuild refcounts (%llu)", q->path,
                               (unsigned long long) n);
    _cleanup_free_ uint16_t *refs = calloc(n, sizeof(uint16_t));
    _cleanup_free_ uint8_t *walked = calloc(n, 1);
    _cleanup_free_ uint8_t *tbl = malloc(q->cluster_size);
    if (!refs || !walked || !tbl)
        return -ENOMEM;
    struct qcow2_check_result res = {0};
    struct check c = {.q = q, .res = &res, .refs = refs, .walked = walked, .n = n};
    count_refs(&c, tbl);
    if (res.corruptions || res.check_errors)
        return berth_error_set(err, -EUCLEAN, "%s: cannot rebuild refcounts: %s", q->path,
                               res.first_problem[0] ? res.first_problem : "I/O error while reading tables");
    /* New refcount blocks (and table) go past everything, as any allocation: their own
     * refcounts are set as they are made; everything below gets exactly its references. */
    uint64_t first_new = q->alloc_next >> q->cluster_bits;
    int r = 0;
    for (uint64_t ci = 0; ci < n && r >= 0; ci++) {
        if (refs[ci] > q->refcount_max)
            return berth_error_set(err, -EUCLEAN, "%s: cluster %llu: refcount overflow", q->path,
                                   (unsigned long long) ci);
        uint64_t rti = ci / q->rb_entries;
        if (refs[ci] && (rti >= q->rt_entries || !(q->rt[rti] & ~QCOW2_RT_RESERVED)))
            r = qcow2_refcount_update(q, ci << q->cluster_bits, q->cluster_size, +1);
    }
    for (uint64_t ci = 0; ci < first_new && r >= 0; ci++)
        r = set_refcount(q, ci, ci < n ? refs[ci] : 0);
    if (r < 0)
        return berth_error_errno(err, r, "%s: rebuild refcounts", q->path);
    r = qcow2_flush_locked(q);
    if (r < 0)
        return berth_error_errno(err, r, "%s: rebuild refcounts", q->path);
    if (q->incompatible & QCOW2_INCOMPAT_DIRTY) {
        uint8_t h[8];
        be64_store(h, q->incompatible & ~QCOW2_INCOMPAT_DIRTY);
        r = qcow2_pwrite(q->fd, h, 8, 72);
        if (r < 0 || fdatasync(q->fd) < 0)
            return berth_error_errno(err, r < 0 ? r : -errno, "%s: clear the dirty bit", q->path);
        q->incompatible &= ~QCOW2_INCOMPAT_DIRTY;
    }
    return 0;
}

int qcow2_check(const char *path, enum qcow2_repair repair, struct qcow2_check_result *ret, struct berth_error *err)
{
    struct qcow2_open_opts o = {.read_only = repair == QCOW2_REPAIR_NONE, .no_backing = true};
    _cleanup_disk_ struct disk *d = NULL;
    int r = qcow2_open(path, &o, &d, err);
    if (r < 0)
        return r;
    struct qcow2 *q = d->priv;
    struct qcow2_check_result res = {0};
    if (repair == QCOW2_REPAIR_ALL) {
        struct berth_error e = {0};
        pthread_mutex_lock(&q->lock);
        r = qcow2_rebuild_refcounts(q, &e);
        pthread_mutex_unlock(&q->lock);
        if (r >= 0)
            res.refcounts_rebuilt = true;
    }
    uint64_t n = ((q->file_size + q->cluster_size - 1) >> q->cluster_bits) + 1;
    if (n > MAX_CHECK_CLUSTERS)
        return berth_error_set(err, -EFBIG, "%s: too many clusters to check (%llu)", path, (unsigned long long) n);
    _cleanup_free_ uint16_t *refs = calloc(n, sizeof(uint16_t));
    _cleanup_free_ uint8_t *walked = calloc(n, 1);
    _cleanup_free_ uint8_t *tbl = malloc(q->cluster_size);
    if (!refs || !walked || !tbl)
        return -ENOMEM;
    struct check c = {.q = q, .res = &res, .refs = refs, .walked = walked, .n = n};
    res.total_clusters = (q->size + q->cluster_size - 1) >> q->cluster_bits;
    count_refs(&c, tbl);
    r = compare(&c, repair != QCOW2_REPAIR_NONE);
    if (r < 0)
        return berth_error_errno(err, r, "%s: repair", path);
    walk_copied(&c, tbl);
    *ret = res;
    return 0;
}
