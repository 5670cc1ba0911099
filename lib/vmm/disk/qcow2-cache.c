/* A small bounded write-back cache of cluster-sized metadata tables (L2 tables, refcount blocks).
 * Bounded so that a huge image costs a fixed amount of memory; write-back so that a burst of
 * allocating writes costs no metadata I/O until a flush or an eviction. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/disk/qcow2-priv.h"

int qcow2_cache_init(struct qcow2_cache *c, unsigned n, uint64_t table_size, bool is_l2)
{
    c->e = calloc(n, sizeof(*c->e));
    if (!c->e)
        return -ENOMEM;
    c->n = n;
    c->is_l2 = is_l2;
    for (unsigned i = 0; i < n; i++) {
        c->e[i].data = malloc(table_size);
        if (!c->e[i].data)
            return -ENOMEM;
    }
    return 0;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
    for (unsigned i = 0; c->e && i < c->n; i++)
        free(c->e[i].data);
    free(c->e);
    c->e = NULL;
}

static int entry_write(struct qcow2 *q, struct qcow2_cache_entry *e)
{
    int r = qcow2_pwrite(q->fd, e->data, q->cluster_size, e->offset);
    if (r < 0)
        return r;
    e->dirty = false;
    return 0;
}

int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t offset, bool fresh, uint8_t **ret)
{
    struct qcow2_cache_entry *victim = NULL;
    for (unsigned i = 0; i < c->n; i++) {
        struct qcow2_cache_entry *e = &c->e[i];
        if (e->offset == offset) {
            e->lru = ++c->tick;
            if (fresh)
                memset(e->data, 0, q->cluster_size);
            *ret = e->data;
            return 0;
        }
        if (!victim || e->offset == 0 || (victim->offset != 0 && e->lru < victim->lru))
            victim = e;
    }
    if (victim->offset && victim->dirty) {
        /* An L2 table may only reach the disk once the refcounts of what it references have. */
        if (c->is_l2) {
            int r = qcow2_refcounts_persist(q);
            if (r < 0)
                return r;
        }
        int r = entry_write(q, victim);
        if (r < 0)
            return r;
    }
    victim->offset = 0;
    victim->dirty = false;
    if (fresh) {
        memset(victim->data, 0, q->cluster_size);
    } else {
        ssize_t n = qcow2_pread(q->fd, victim->data, q->cluster_size, offset);
        if (n < 0)
            return (int) n;
        /* A table at the very end may be short if another writer truncated it: zeroes. */
        memset(victim->data + n, 0, q->cluster_size - (size_t) n);
    }
    victim->offset = offset;
    victim->lru = ++c->tick;
    *ret = victim->data;
    return 0;
}

void qcow2_cache_dirty(struct qcow2_cache *c, const void *p, uint64_t table_size)
{
    const uint8_t *b = p;
    for (unsigned i = 0; i < c->n; i++)
        if (b >= c->e[i].data && b < c->e[i].data + table_size)
            c->e[i].dirty = true;
}

bool qcow2_cache_any_dirty(const struct qcow2_cache *c)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->e[i].offset && c->e[i].dirty)
            return true;
    return false;
}

int qcow2_cache_write_dirty(struct qcow2 *q, struct qcow2_cache *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        struct qcow2_cache_entry *e = &c->e[i];
        if (e->offset && e->dirty) {
            int r = entry_write(q, e);
            if (r < 0)
                return r;
        }
    }
    return 0;
}
