/* The driver side of virtio, written for unit tests: a malloc'd fake guest RAM registered in a
 * struct guest_memory, register accesses through the transport's bus ops, and a small split-ring
 * driver that builds descriptor chains the way Linux does (or the way a hostile guest would). */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/devices/virtio/virtio-dev.h"
#include "vmm/devices/virtio/virtio-devices.h"
#include "vmm/devices/virtio/virtio-mmio.h"
#include "vmm/kvm/guest-memory.h"

#define FAKE_RAM_SIZE (4u << 20)
#define FAKE_RAM_GPA 0x100000ull

struct fake_queue {
    uint16_t size;
    uint64_t desc, avail, used;
    uint16_t avail_idx;
    uint16_t used_seen;
    uint16_t next_desc;
};

struct fake_guest {
    uint8_t *ram;
    struct guest_memory mem;
    struct virtio_mmio *vm;
    uint64_t next_alloc;
    int irqs;
    struct fake_queue q[VIRTIO_MAX_QUEUES];
};

static int fake_irq(void *opaque, uint32_t gsi)
{
    (void) gsi;
    __atomic_add_fetch(&((struct fake_guest *) opaque)->irqs, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static inline void *gpa_ptr(struct fake_guest *g, uint64_t gpa)
{
    return g->ram + (gpa - FAKE_RAM_GPA);
}

/* Bump allocator over the fake RAM (never freed: tests are short). */
static inline uint64_t fake_alloc(struct fake_guest *g, uint64_t len, uint64_t align)
{
    uint64_t at = (g->next_alloc + align - 1) & ~(align - 1);
    if (at + len > FAKE_RAM_GPA + FAKE_RAM_SIZE)
        abort();
    g->next_alloc = at + len;
    memset(gpa_ptr(g, at), 0, len);
    return at;
}

static inline int fake_guest_init(struct fake_guest *g, struct virtio_dev *dev)
{
    memset(g, 0, sizeof(*g));
    g->ram = aligned_alloc(4096, FAKE_RAM_SIZE);
    if (!g->ram)
        return -1;
    memset(g->ram, 0, FAKE_RAM_SIZE);
    if (guest_memory_add_region(&g->mem, FAKE_RAM_GPA, FAKE_RAM_SIZE, g->ram) < 0)
        return -1;
    g->next_alloc = FAKE_RAM_GPA;
    struct irq_line irq = { .gsi = 5, .trigger = fake_irq, .opaque = g };
    return virtio_mmio_new(dev, &g->mem, irq, &g->vm, NULL);
}

static inline void fake_guest_fini(struct fake_guest *g)
{
    virtio_mmio_free(g->vm);
    free(g->ram);
}

static inline uint32_t reg_read(struct fake_guest *g, uint64_t off)
{
    uint32_t v;
    virtio_mmio_bus_ops.read(g->vm, off, (uint8_t *) &v, 4);
    return v;
}

static inline void reg_write(struct fake_guest *g, uint64_t off, uint32_t v)
{
    virtio_mmio_bus_ops.write(g->vm, off, (const uint8_t *) &v, 4);
}

static inline void config_read(struct fake_guest *g, uint32_t off, void *buf, uint32_t len)
{
    virtio_mmio_bus_ops.read(g->vm, VIRTIO_MMIO_CONFIG + off, buf, len);
}

static inline uint64_t device_features(struct fake_guest *g)
{
    reg_write(g, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t lo = reg_read(g, VIRTIO_MMIO_DEVICE_FEATURES);
    reg_write(g, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    return lo | (uint64_t) reg_read(g, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

/* Status sequence up to FEATURES_OK (spec 3.1.1); returns the status read back. */
static inline uint32_t driver_negotiate(struct fake_guest *g, uint64_t features)
{
    reg_write(g, VIRTIO_MMIO_STATUS, 0);
    reg_write(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    reg_write(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    reg_write(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    reg_write(g, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t) features);
    reg_write(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    reg_write(g, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t) (features >> 32));
    reg_write(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    return reg_read(g, VIRTIO_MMIO_STATUS);
}

static inline void queue_setup(struct fake_guest *g, uint32_t qi, uint16_t size)
{
    struct fake_queue *fq = &g->q[qi];
    fq->size = size;
    fq->desc = fake_alloc(g, 16u * size, 16);
    fq->avail = fake_alloc(g, 6u + 2u * size, 2);
    fq->used = fake_alloc(g, 6u + 8u * size, 4);
    reg_write(g, VIRTIO_MMIO_QUEUE_SEL, qi);
    reg_write(g, VIRTIO_MMIO_QUEUE_NUM, size);
    reg_write(g, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t) fq->desc);
    reg_write(g, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t) (fq->desc >> 32));
    reg_write(g, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t) fq->avail);
    reg_write(g, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t) (fq->avail >> 32));
    reg_write(g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t) fq->used);
    reg_write(g, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t) (fq->used >> 32));
    reg_write(g, VIRTIO_MMIO_QUEUE_READY, 1);
}

static inline void driver_ok(struct fake_guest *g)
{
    reg_write(g, VIRTIO_MMIO_STATUS, reg_read(g, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

/* Full bring-up: negotiate features, set up n queues of size entries, DRIVER_OK. */
static inline uint32_t driver_start(struct fake_guest *g, uint64_t features, uint32_t n_queues, uint16_t size)
{
    uint32_t st = driver_negotiate(g, features);
    for (uint32_t i = 0; i < n_queues; i++)
        queue_setup(g, i, size);
    driver_ok(g);
    return st;
}

struct fake_buf {
    uint64_t gpa;
    uint32_t len;
    bool write; /* device-writable */
};

static inline void put_desc(struct fake_guest *g, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                            uint16_t flags, uint16_t next)
{
    uint8_t *d = gpa_ptr(g, table + 16u * i);
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

/* Publishes head in the avail ring (the index store comes last, as a driver's would). */
static inline void avail_publish(struct fake_guest *g, uint32_t qi, uint16_t head)
{
    struct fake_queue *fq = &g->q[qi];
    uint16_t *avail = gpa_ptr(g, fq->avail);
    avail[2 + (fq->avail_idx % fq->size)] = head;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    fq->avail_idx++;
    avail[1] = fq->avail_idx;
}

/* Adds a chain of n buffers as consecutive descriptors; returns its head. */
static inline uint16_t add_chain(struct fake_guest *g, uint32_t qi, const struct fake_buf *bufs, int n)
{
    struct fake_queue *fq = &g->q[qi];
    uint16_t head = fq->next_desc;
    for (int i = 0; i < n; i++) {
        uint16_t idx = (uint16_t) ((head + i) % fq->size);
        uint16_t flags = (uint16_t) ((bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        put_desc(g, fq->desc, idx, bufs[i].gpa, bufs[i].len, flags, (uint16_t) ((idx + 1) % fq->size));
    }
    fq->next_desc = (uint16_t) ((head + n) % fq->size);
    avail_publish(g, qi, head);
    return head;
}

/* Adds a chain through one indirect descriptor table. */
static inline uint16_t add_indirect(struct fake_guest *g, uint32_t qi, const struct fake_buf *bufs, int n)
{
    struct fake_queue *fq = &g->q[qi];
    uint64_t table = fake_alloc(g, 16u * (uint32_t) n, 16);
    for (int i = 0; i < n; i++)
        put_desc(g, table, (uint16_t) i, bufs[i].gpa, bufs[i].len,
                 (uint16_t) ((bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
                 (uint16_t) (i + 1));
    uint16_t head = fq->next_desc;
    put_desc(g, fq->desc, head, table, 16u * (uint32_t) n, VIRTQ_DESC_F_INDIRECT, 0);
    fq->next_desc = (uint16_t) ((head + 1) % fq->size);
    avail_publish(g, qi, head);
    return head;
}

static inline void kick(struct fake_guest *g, uint32_t qi)
{
    reg_write(g, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

/* Takes the next used entry: 1 with *id and *len, 0 if the device has not returned one. */
static inline int used_next(struct fake_guest *g, uint32_t qi, uint32_t *id, uint32_t *len)
{
    struct fake_queue *fq = &g->q[qi];
    uint8_t *used = gpa_ptr(g, fq->used);
    uint16_t idx;
    memcpy(&idx, used + 2, 2);
    if (idx == fq->used_seen)
        return 0;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint8_t *e = used + 4 + 8u * (fq->used_seen % fq->size);
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
    fq->used_seen++;
    return 1;
}

static inline uint16_t used_idx(struct fake_guest *g, uint32_t qi)
{
    uint16_t idx;
    memcpy(&idx, (uint8_t *) gpa_ptr(g, g->q[qi].used) + 2, 2);
    return idx;
}

#define FEATURES_V1 VIRTIO_BIT(VIRTIO_F_VERSION_1)
