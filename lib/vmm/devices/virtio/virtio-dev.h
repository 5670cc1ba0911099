/* What a virtio device implements and what the transport gives it. A device is a struct
 * virtio_dev (generic state: features, status, queues, config bytes, interrupt, backend epoll
 * set) plus its own priv, behind one small ops table; the transport (virtio-mmio.c) only ever
 * calls the ops, with dev->lock held. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/devices/irq.h"
#include "vmm/devices/virtio/queue.h"
#include "vmm/kvm/guest-memory.h"

#define VIRTIO_MAX_QUEUES 8

/* Device status bits (spec 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

/* Reserved feature bits (spec 6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34

#define VIRTIO_BIT(b) (1ull << (b))

struct virtio_dev;

struct virtio_device_ops {
    const char *name;
    uint32_t device_id;
    /* Called once DRIVER_OK is set, queues enabled and features final; an error sets
     * DEVICE_NEEDS_RESET. Optional. */
    int (*activate)(struct virtio_dev *dev);
    /* Checks a feature set the driver asks for (already a subset of the offer, VERSION_1
     * included) against the device's dependency rules; false refuses FEATURES_OK. Optional. */
    bool (*features_ok)(struct virtio_dev *dev, uint64_t features);
    /* The guest made buffers available on queue q (q < n_queues, queue ready). */
    void (*queue_notify)(struct virtio_dev *dev, uint16_t q);
    /* The device's epoll set is readable. Optional. */
    void (*handle_events)(struct virtio_dev *dev);
    /* A driver write into the config space (bounds already checked). Optional: read-only. */
    void (*config_write)(struct virtio_dev *dev, uint32_t offset, const uint8_t *data, uint32_t len);
    /* Device reset (status written 0): drop in-flight state, keep backends. Optional. */
    void (*reset)(struct virtio_dev *dev);
    /* Frees priv and closes backends. */
    void (*free)(struct virtio_dev *dev);
};

struct virtio_dev {
    const struct virtio_device_ops *ops;
    void *priv;
    pthread_mutex_t lock;

    const struct guest_memory *mem; /* set when attached to a transport */
    struct irq_line irq;

    uint64_t device_features; /* offered (VIRTIO_F_VERSION_1 always included) */
    uint64_t driver_features; /* accepted by the driver */
    uint32_t status;
    uint32_t isr;             /* VIRTIO_MMIO_INT_* bits pending acknowledgement */
    uint32_t config_generation;
    bool activated;

    uint16_t n_queues;
    struct virtq queues[VIRTIO_MAX_QUEUES];

    uint8_t *config;          /* device config space, little-endian, owned by priv's code */
    uint32_t config_size;

    int epoll_fd;             /* backend fds the device waits on; -1 if none */
};

/* Fills the generic part: n_queues queues of queue_max entries each, features offered
 * (VIRTIO_F_VERSION_1 | INDIRECT_DESC | EVENT_IDX are added), no backend epoll set yet. */
int virtio_dev_init(struct virtio_dev *dev, const struct virtio_device_ops *ops, void *priv,
                    uint16_t n_queues, uint16_t queue_max, uint64_t features);

/* Creates the (empty) backend epoll set, so virtio_mmio_event_fd has an fd to hand the VMM before
 * the guest starts; devices with backends call it from their constructor. */
int virtio_dev_events_init(struct virtio_dev *dev);

/* Creates the epoll set on first use and adds/changes/removes fd in it; data is handed back in
 * epoll_event.data.u64 (devices use it to tell their fds apart). */
int virtio_dev_watch(struct virtio_dev *dev, int fd, uint32_t events, uint64_t data);
int virtio_dev_rewatch(struct virtio_dev *dev, int fd, uint32_t events, uint64_t data);
void virtio_dev_unwatch(struct virtio_dev *dev, int fd);

static inline bool virtio_dev_has(const struct virtio_dev *dev, unsigned bit)
{
    return (dev->driver_features & VIRTIO_BIT(bit)) != 0;
}

/* Raises the used-buffer interrupt if the guest wants one for queue q. */
void virtio_dev_notify_used(struct virtio_dev *dev, uint16_t q);

/* The config space changed: bumps ConfigGeneration and raises a config interrupt. */
void virtio_dev_config_changed(struct virtio_dev *dev);

/* The guest broke the protocol on some queue: DEVICE_NEEDS_RESET and a config interrupt; the
 * device stops processing until reset. */
void virtio_dev_set_broken(struct virtio_dev *dev);

/* Whether the device may process its queues (DRIVER_OK, not broken). */
bool virtio_dev_live(const struct virtio_dev *dev);

/* Little-endian accessors for config spaces and request headers. */
static inline void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t) v; p[1] = (uint8_t) (v >> 8); }
static inline void put_le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t) (v >> (8 * i)); }
static inline void put_le64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t) (v >> (8 * i)); }
static inline uint16_t get_le16(const uint8_t *p) { return (uint16_t) (p[0] | (p[1] << 8)); }
static inline uint32_t get_le32(const uint8_t *p) { return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24; }
static inline uint64_t get_le64(const uint8_t *p) { return (uint64_t) get_le32(p) | (uint64_t) get_le32(p + 4) << 32; }
