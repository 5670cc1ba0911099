/* A small virtio-mmio driver for berth's freestanding test guests: find a device, negotiate
 * features, set up split virtqueues, add buffers, kick, poll for used buffers (no interrupts:
 * the guests poll, in ring 3). Plus thin helpers per device (blk, net, rng, vsock, console).
 *
 * The same file is compiled into the unit tests on the host with -DVG_HOST, where MMIO goes to the
 * device model through its bus ops and "physical" addresses are offsets in a fake guest RAM
 * (tests/unit/test-virtio-guest-drivers.c); in a guest everything is identity-mapped. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef VG_HOST
uint32_t vg_mmio_read32(uint64_t addr);
void vg_mmio_write32(uint64_t addr, uint32_t v);
uint8_t vg_mmio_read8(uint64_t addr);
void *vg_alloc_pages(size_t n);
uint64_t vg_phys(const void *p);
/* Drops the driver's static state (scratch pages, rx pools) between tests. */
void vg_forget(void);
#include <string.h>
#define vg_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#else
#include "guest.h"
#define vg_mmio_read32 mmio_read32
#define vg_mmio_write32 mmio_write32
#define vg_mmio_read8 mmio_read8
#define vg_alloc_pages alloc_pages
#define vg_phys(p) ((uint64_t) (uintptr_t) (p))
#define vg_mb() barrier()
#endif

#define VG_MAX_QUEUES 3
#define VG_QUEUE_SIZE 64

struct vg_queue {
    uint16_t size;
    uint8_t *desc;    /* 16-byte descriptors */
    uint16_t *avail;  /* flags, idx, ring[size], used_event */
    uint8_t *used;    /* flags, idx, ring[size] {id, len}, avail_event */
    uint16_t avail_idx;
    uint16_t last_used;
    uint16_t free_head;
    uint16_t num_free;
};

struct vg_dev {
    uint64_t base;
    uint32_t device_id;
    uint64_t features; /* negotiated */
    unsigned n_queues;
    struct vg_queue q[VG_MAX_QUEUES];
};

struct vg_buf {
    void *addr;
    uint32_t len;
};

/* Checks magic, version 2 and reads the device ID at base; -1 if no virtio-mmio device. */
int vg_probe(struct vg_dev *d, uint64_t base);

#ifndef VG_HOST
/* The index-th virtio-mmio device with device_id among those the ACPI DSDT describes; -1 if
 * none. */
int vg_find(struct vg_dev *d, uint32_t device_id, int index);
#endif

/* Reset, ACKNOWLEDGE, DRIVER, features (want & offered, VERSION_1 required), FEATURES_OK,
 * n_queues queues, DRIVER_OK. Returns 0, or -1 with the step that failed printed by the caller
 * through the return value: -1 features refused, -2 queue unavailable. */
int vg_init(struct vg_dev *d, uint64_t want, unsigned n_queues);

/* Adds a chain: n_out device-readable buffers then n_in device-writable ones. Returns the head
 * descriptor index, or -1 if the queue has not enough free descriptors. */
int vg_add(struct vg_dev *d, unsigned qi, const struct vg_buf *out, int n_out, const struct vg_buf *in, int n_in);
void vg_kick(struct vg_dev *d, unsigned qi);
/* Next used chain (its descriptors are freed): head index, or -1 when none yet. */
int vg_get(struct vg_dev *d, unsigned qi, uint32_t *len);
/* vg_get in a loop, for up to spins polls; -1 on timeout. */
int vg_wait(struct vg_dev *d, unsigned qi, uint32_t *len, uint64_t spins);

void vg_config_read(struct vg_dev *d, uint32_t off, void *buf, uint32_t len);
uint32_t vg_status(struct vg_dev *d);

/* ---- devices ---- */
#define VG_ID_NET 1
#define VG_ID_BLK 2
#define VG_ID_CONSOLE 3
#define VG_ID_RNG 4
#define VG_ID_VSOCK 19

/* One block request: type 0 read, 1 write, 4 flush, 8 get-id. Returns the status byte (0 ok) or
 * -1 when the device did not answer. */
int vg_blk_request(struct vg_dev *d, uint32_t type, uint64_t sector, void *buf, uint32_t len);
uint64_t vg_blk_capacity(struct vg_dev *d);

/* Fills buf from the entropy device; returns the bytes received or -1. */
int vg_rng_read(struct vg_dev *d, void *buf, uint32_t len);

/* Net: rx buffers are posted by vg_net_start; frames carry no virtio_net_hdr here (added and
 * stripped by these helpers). */
int vg_net_start(struct vg_dev *d);
int vg_net_send(struct vg_dev *d, const void *frame, uint32_t len);
/* Next received frame copied into buf; its length, or -1 if none within spins polls. */
int vg_net_recv(struct vg_dev *d, void *buf, uint32_t cap, uint64_t spins);

/* Console: bytes out, bytes in (polling). */
int vg_console_start(struct vg_dev *d);
int vg_console_write(struct vg_dev *d, const void *buf, uint32_t len);
int vg_console_read(struct vg_dev *d, void *buf, uint32_t cap, uint64_t spins);

/* vsock: one stream at a time, enough for tests. */
struct vg_vsock {
    struct vg_dev *d;
    uint64_t cid;
    uint32_t local_port, peer_port;
    uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt, fwd_cnt;
    int connected;
    int peer_closed;
};
int vg_vsock_start(struct vg_dev *d, struct vg_vsock *s);
/* Connects to the host (CID 2) port; 0, or -1 refused / no answer. */
int vg_vsock_connect(struct vg_vsock *s, uint32_t local_port, uint32_t port, uint64_t spins);
/* Waits for a host connection to port and accepts it; 0 or -1. */
int vg_vsock_accept(struct vg_vsock *s, uint32_t port, uint64_t spins);
int vg_vsock_send(struct vg_vsock *s, const void *buf, uint32_t len);
/* Bytes received (up to cap), 0 when the host closed, -1 when nothing arrived in time. */
int vg_vsock_recv(struct vg_vsock *s, void *buf, uint32_t cap, uint64_t spins);
void vg_vsock_close(struct vg_vsock *s, uint64_t spins);
