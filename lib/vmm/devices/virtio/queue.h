/* Split virtqueues (virtio 1.2 section 2.7) as the device sees them. Everything in the rings is
 * written by the guest and hostile: sizes, ring addresses, indexes, descriptor chains and buffer
 * addresses are all checked, and a queue that breaks the rules is marked broken (the transport
 * then sets DEVICE_NEEDS_RESET) instead of being trusted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/kvm/guest-memory.h"

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Longest descriptor chain we accept, indirect tables included (a direct chain is also bounded by
 * the queue size, as the spec requires of drivers). Linux never builds longer ones. */
#define VIRTQ_CHAIN_MAX 1024

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq {
    /* Configuration written through the transport. */
    uint16_t max_size;
    uint16_t size;
    bool ready;
    uint64_t desc_addr, driver_addr, device_addr;

    /* Set by virtq_enable once the rings are known to lie in guest memory. */
    struct virtq_desc *desc;
    uint16_t *avail;  /* flags, idx, ring[size], used_event */
    uint8_t *used;    /* flags, idx, ring[size] of {id, len}, avail_event */
    bool event_idx;   /* VIRTIO_F_EVENT_IDX negotiated */
    bool indirect;    /* VIRTIO_F_INDIRECT_DESC negotiated */

    uint16_t last_avail; /* next avail ring entry to consume */
    uint16_t used_idx;   /* our copy of used->idx */
    uint16_t signalled_used; /* used idx at the last interrupt (event idx) */
    bool signalled_valid;
    bool broken;
};

/* One descriptor chain: device-readable buffers first (iov[0..n_out)), then device-writable ones
 * (iov[n_out..n_out+n_in)); the spec requires that order and virtq_pop enforces it. */
struct virtq_chain {
    uint16_t head;
    uint32_t n_out, n_in;
    uint64_t out_len, in_len;
    struct iovec iov[VIRTQ_CHAIN_MAX];
};

/* Back to the reset state (size = max_size, not ready, no rings). */
void virtq_reset(struct virtq *q, uint16_t max_size);

/* Validates size (a power of two, 1..max_size) and that each ring lies wholly in guest memory
 * with the alignment the spec requires; -EINVAL otherwise. */
int virtq_enable(struct virtq *q, const struct guest_memory *mem, bool event_idx, bool indirect);

/* Takes the next available chain: 1 with *chain filled, 0 when none is available, -EIO when the
 * guest broke the rules (the queue is then broken and stays so until reset). */
int virtq_pop(struct virtq *q, const struct guest_memory *mem, struct virtq_chain *chain);

/* Gives back the last n popped chains (not yet pushed), to be popped again later: a device that
 * popped buffers for a frame that turned out not to fit. They are re-validated when popped. */
void virtq_unpop(struct virtq *q, uint16_t n);

/* Number of chains available and not yet popped; -EIO (and broken) if the avail index jumped by
 * more than the queue size. */
int virtq_pending(struct virtq *q);

/* Returns a chain to the guest with len bytes written into its device-writable part. The entry
 * is published with a release fence before the used index moves. */
int virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/* Whether the guest wants an interrupt for what was pushed since the last one (honours
 * VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with event idx). Call once after a batch of pushes. */
bool virtq_needs_interrupt(struct virtq *q);

/* Asks the guest (not) to notify us about new available buffers (VIRTQ_USED_F_NO_NOTIFY or
 * avail_event). After enabling, re-check virtq_pending: a buffer may have arrived meanwhile. */
void virtq_set_notification(struct virtq *q, bool enable);

/* Fills out with the iovecs covering bytes [skip, skip + len) of iov[0..n); returns their count
 * (at most n). */
size_t iov_slice(struct iovec *out, const struct iovec *iov, size_t n, size_t skip, size_t len);

/* Copies between a chain's iovecs (from byte offset) and a flat buffer; returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, size_t n, size_t offset, void *buf, size_t len);
size_t buf_to_iov(const struct iovec *iov, size_t n, size_t offset, const void *buf, size_t len);
