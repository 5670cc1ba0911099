/* virtio-blk wire format (spec 5.2), shared by the device, its tests and its fuzz target. */
#pragma once

#include <stdint.h>

#include "vmm/devices/virtio/queue.h"

struct virtio_dev;

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_WZ_F_UNMAP 1

#define VIRTIO_BLK_SECTOR_SIZE 512
#define VIRTIO_BLK_HDR_SIZE 16
#define VIRTIO_BLK_DWZ_SEG_SIZE 16
#define VIRTIO_BLK_ID_BYTES 20

/* Serves one popped request chain of a virtio-blk device; returns the used length (bytes written
 * into the chain's device-writable part, status byte included; 0 if it has none). */
uint32_t virtio_blk_handle_request(struct virtio_dev *dev, const struct virtq_chain *chain);
