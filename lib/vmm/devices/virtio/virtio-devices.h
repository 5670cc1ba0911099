/* The virtio devices berth-vmm offers. Each constructor returns a struct virtio_dev that the VMM
 * hands to virtio_mmio_new (virtio-mmio.h), which takes ownership; free a device that was never
 * attached with virtio_dev_free. Backend fds passed in are owned by the device from then on
 * (closed when it is freed), also when the constructor fails. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "vmm/disk/disk.h"

struct virtio_dev;

/* Device IDs (spec 5). */
enum {
    VIRTIO_ID_NET = 1,
    VIRTIO_ID_BLOCK = 2,
    VIRTIO_ID_CONSOLE = 3,
    VIRTIO_ID_RNG = 4,
    VIRTIO_ID_BALLOON = 5,
    VIRTIO_ID_VSOCK = 19,
};

void virtio_dev_free(struct virtio_dev *dev);

/* Block device over any disk backend (raw, qcow2). The device owns disk (closes it when freed).
 * serial (may be NULL) is what VIRTIO_BLK_T_GET_ID returns, at most 20 bytes. A read-only disk
 * offers VIRTIO_BLK_F_RO and answers writes with VIRTIO_BLK_S_IOERR. */
int virtio_blk_new(struct disk *disk, const char *serial, struct virtio_dev **ret, struct berth_error *err);

/* Network device over tap_fd: a tap opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
 * (virtio_net_open_tap does that). The device sets the vnet header size (12 bytes) and, when the
 * fd is a tap, offers checksum/TSO offloads and maps what the guest accepts to TUNSETOFFLOAD.
 * Any other datagram fd (a socketpair in tests) works too: each datagram is one frame preceded
 * by a 12-byte struct virtio_net_hdr, and no offloads are offered. mac may be NULL (none
 * offered; the guest picks one). */
int virtio_net_new(int tap_fd, const uint8_t mac[6], struct virtio_dev **ret, struct berth_error *err);

/* Opens (or creates) tap device name with the flags virtio_net_new expects, non-blocking. */
int virtio_net_open_tap(const char *name, int *ret_fd, struct berth_error *err);

/* Console with a single port: bytes the guest writes go to out_fd; bytes readable on in_fd reach
 * the guest (in_fd -1: no input). in_fd and out_fd may be the same fd (a socket, a pty). */
int virtio_console_new(int in_fd, int out_fd, struct virtio_dev **ret, struct berth_error *err);

/* Entropy device filled from getrandom(2). */
int virtio_rng_new(struct virtio_dev **ret, struct berth_error *err);

/* vsock with guest CID guest_cid (>= 3), host side over Unix sockets the way Firecracker does:
 * - host to guest: a host program connects to the socket uds_path (created here, replaced if a
 *   stale socket is there) and writes "CONNECT <port>\n"; once the guest accepts, it reads
 *   "OK <host_port>\n" and the stream is the connection; a refused connection is closed.
 * - guest to host: a guest connecting to CID 2 port P reaches a host program listening on the
 *   Unix socket "<uds_path>_<P>".
 * Credit-based flow control per spec 5.10.6.3. uds_path is removed when the device is freed. */
int virtio_vsock_new(uint64_t guest_cid, const char *uds_path, struct virtio_dev **ret,
                     struct berth_error *err);

/* Memory balloon with a statistics queue (and deflate-on-OOM offered). Inflated pages are given
 * back to the host with madvise(MADV_DONTNEED) (MADV_REMOVE for shared file memory). */
int virtio_balloon_new(struct virtio_dev **ret, struct berth_error *err);

/* Asks the guest to make the balloon target_pages 4 KiB pages large (config change interrupt). */
int virtio_balloon_set_target(struct virtio_dev *dev, uint32_t target_pages);

struct virtio_balloon_info {
    uint32_t target_pages;   /* what the host asked for */
    uint32_t actual_pages;   /* what the guest reports it holds */
    uint64_t inflated_pages; /* pages the device has given back so far, net of deflates */
    /* Latest guest statistics (VIRTIO_BALLOON_S_*), UINT64_MAX when not reported. */
    uint64_t stats[16];
    bool stats_valid;
};

/* Snapshot of the balloon's state and the guest's last statistics. */
int virtio_balloon_info(struct virtio_dev *dev, struct virtio_balloon_info *ret);

/* Statistics tags (spec 5.5.6.3). */
enum {
    VIRTIO_BALLOON_S_SWAP_IN = 0,
    VIRTIO_BALLOON_S_SWAP_OUT = 1,
    VIRTIO_BALLOON_S_MAJFLT = 2,
    VIRTIO_BALLOON_S_MINFLT = 3,
    VIRTIO_BALLOON_S_MEMFREE = 4,
    VIRTIO_BALLOON_S_MEMTOT = 5,
    VIRTIO_BALLOON_S_AVAIL = 6,
    VIRTIO_BALLOON_S_CACHES = 7,
    VIRTIO_BALLOON_S_HTLB_PGALLOC = 8,
    VIRTIO_BALLOON_S_HTLB_PGFAIL = 9,
};
