/* Split virtqueue, device side. The guest writes the rings concurrently with us: every shared
 * field is read once (atomic loads) into a local copy, then checked, then used. */
#include "vmm/devices/virtio/queue.h"

#include <errno.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtio rings are little-endian; this file assumes a little-endian host"
#endif

/* avail ring as u16 words: [0] flags, [1] idx, [2 + i] ring, [2 + size] used_event. */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 1
#define AVAIL_RING 2
/* used ring bytes: 0 flags, 2 idx, 4 + 8 i ring entries, 4 + 8 size avail_event. */
#define USED_IDX_OFF 2
#define USED_RING_OFF 4

static uint16_t load16(const uint16_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void store16(uint16_t *p, uint16_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

void virtq_reset(struct virtq *q, uint16_t max_size)
{
    *q = (struct virtq){ .max_size = max_size, .size = max_size };
}

int virtq_enable(struct virtq *q, const struct guest_memory *mem, bool event_idx, bool indirect)
{
    uint32_t size = q->size;
    if (size == 0 || size > q->max_size || (size & (size - 1)) != 0)
        return -EINVAL;
    /* Alignments from spec 2.7 (table "Virtqueue Part Alignment"). */
    if (q->desc_addr % 16 || q->driver_addr % 2 || q->device_addr % 4)
        return -EINVAL;
    void *desc = guest_memory_ptr(mem, q->desc_addr, 16ull * size);
    void *avail = guest_memory_ptr(mem, q->driver_addr, 6ull + 2ull * size);
    void *used = guest_memory_ptr(mem, q->device_addr, 6ull + 8ull * size);
    if (!desc || !avail || !used)
        return -EINVAL;
    q->desc = desc;
    q->avail = avail;
    q->used = used;
    q->event_idx = event_idx;
    q->indirect = indirect;
    q->last_avail = 0;
    q->used_idx = 0;
    /* Nothing pushed yet: the first interrupt is due only once something is. */
    q->signalled_used = 0;
    q->signalled_valid = true;
    q->broken = false;
    q->ready = true;
    return 0;
}

int virtq_pending(struct virtq *q)
{
    if (q->broken)
        return -EIO;
    if (!q->ready || !q->desc)
        return 0;
    uint16_t idx = load16(&q->avail[AVAIL_IDX]);
    uint16_t n = (uint16_t) (idx - q->last_avail);
    if (n > q->size) {
        /* The driver can never have more than size buffers outstanding. */
        q->broken = true;
        return -EIO;
    }
    return n;
}

static int chain_fail(struct virtq *q)
{
    q->broken = true;
    return -EIO;
}

int virtq_pop(struct virtq *q, const struct guest_memory *mem, struct virtq_chain *chain)
{
    int n = virtq_pending(q);
    if (n <= 0)
        return n;
    /* Ring entries are read only after the index that published them. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint16_t head = load16(&q->avail[AVAIL_RING + (q->last_avail & (q->size - 1))]);
    if (head >= q->size)
        return chain_fail(q);

    const uint8_t *table = (const uint8_t *) q->desc;
    uint32_t table_size = q->size, visited = 0;
    bool in_indirect = false;
    uint16_t idx = head;
    chain->head = head;
    chain->n_out = chain->n_in = 0;
    chain->out_len = chain->in_len = 0;
    for (;;) {
        struct virtq_desc d;
        /* One copy: later guest writes to the table cannot change what we checked. The indirect
         * table may be unaligned, hence memcpy. */
        memcpy(&d, table + 16ull * idx, sizeof(d));
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        /* A chain visiting more entries than its table holds has a loop. */
        if (++visited > table_size)
            return chain_fail(q);
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!q->indirect || in_indirect || (d.flags & VIRTQ_DESC_F_NEXT))
                return chain_fail(q);
            if (d.len == 0 || d.len % 16 || d.len / 16 > VIRTQ_CHAIN_MAX)
                return chain_fail(q);
            table = guest_memory_ptr(mem, d.addr, d.len);
            if (!table)
                return chain_fail(q);
            table_size = d.len / 16;
            visited = 0;
            idx = 0;
            in_indirect = true;
            continue;
        }
        void *p = guest_memory_ptr(mem, d.addr, d.len);
        if (!p)
            return chain_fail(q);
        uint32_t n_total = chain->n_out + chain->n_in;
        if (n_total >= VIRTQ_CHAIN_MAX)
            return chain_fail(q);
        if (d.flags & VIRTQ_DESC_F_WRITE) {
            chain->n_in++;
            chain->in_len += d.len;
        } else {
            /* Device-readable buffers must all precede device-writable ones (spec 2.7.4.2). */
            if (chain->n_in)
                return chain_fail(q);
            chain->n_out++;
            chain->out_len += d.len;
        }
        chain->iov[n_total] = (struct iovec){ p, d.len };
        /* Used lengths are 32-bit: a longer chain cannot be reported back. */
        if (chain->in_len > UINT32_MAX || chain->out_len > UINT32_MAX)
            return chain_fail(q);
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            break;
        idx = d.next;
        if (idx >= table_size)
            return chain_fail(q);
    }
    q->last_avail++;
    if (q->event_idx) {
        /* avail_event: notify us again as soon as the next buffer is made available. */
        store16((uint16_t *) (q->used + USED_RING_OFF + 8u * q->size), q->last_avail);
    }
    return 1;
}

void virtq_unpop(struct virtq *q, uint16_t n)
{
    q->last_avail = (uint16_t) (q->last_avail - n);
}

int virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
    if (q->broken || !q->ready || !q->used)
        return -EIO;
    if (head >= q->size)
        return -EINVAL;
    uint8_t *elem = q->used + USED_RING_OFF + 8u * (q->used_idx & (q->size - 1));
    uint32_t id = head;
    __atomic_store_n((uint32_t *) elem, id, __ATOMIC_RELAXED);
    __atomic_store_n((uint32_t *) (elem + 4), len, __ATOMIC_RELAXED);
    /* The entry must be visible before the index that publishes it. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    q->used_idx++;
    store16((uint16_t *) (q->used + USED_IDX_OFF), q->used_idx);
    return 0;
}

bool virtq_needs_interrupt(struct virtq *q)
{
    if (!q->ready || !q->used || q->broken)
        return false;
    /* The used index store must be visible before we read the driver's suppression state. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t old = q->signalled_used, now = q->used_idx;
    bool valid = q->signalled_valid;
    q->signalled_used = now;
    q->signalled_valid = true;
    if (valid && old == now)
        return false;
    if (!q->event_idx)
        return !(load16(&q->avail[AVAIL_FLAGS]) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint16_t used_event = load16(&q->avail[AVAIL_RING + q->size]);
    /* Spec 2.7.10: interrupt if used_event lies in [old, now). */
    return !valid || (uint16_t) (now - used_event - 1) < (uint16_t) (now - old);
}

void virtq_set_notification(struct virtq *q, bool enable)
{
    if (!q->ready || !q->used)
        return;
    if (q->event_idx) {
        if (enable)
            store16((uint16_t *) (q->used + USED_RING_OFF + 8u * q->size), q->last_avail);
    } else {
        store16((uint16_t *) q->used, enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

size_t iov_to_buf(const struct iovec *iov, size_t n, size_t offset, void *buf, size_t len)
{
    size_t done = 0;
    for (size_t i = 0; i < n && done < len; i++) {
        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        size_t chunk = iov[i].iov_len - offset;
        if (chunk > len - done)
            chunk = len - done;
        memcpy((uint8_t *) buf + done, (const uint8_t *) iov[i].iov_base + offset, chunk);
        done += chunk;
        offset = 0;
    }
    return done;
}

size_t buf_to_iov(const struct iovec *iov, size_t n, size_t offset, const void *buf, size_t len)
{
    size_t done = 0;
    for (size_t i = 0; i < n && done < len; i++) {
        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        size_t chunk = iov[i].iov_len - offset;
        if (chunk > len - done)
            chunk = len - done;
        memcpy((uint8_t *) iov[i].iov_base + offset, (const uint8_t *) buf + done, chunk);
        done += chunk;
        offset = 0;
    }
    return done;
}

size_t iov_slice(struct iovec *out, const struct iovec *iov, size_t n, size_t skip, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < n && len > 0; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t chunk = iov[i].iov_len - skip;
        if (chunk > len)
            chunk = len;
        out[k++] = (struct iovec){ (uint8_t *) iov[i].iov_base + skip, chunk };
        len -= chunk;
        skip = 0;
    }
    return k;
}
