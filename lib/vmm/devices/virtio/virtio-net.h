/* virtio-net wire format (spec 5.1), shared by the device and its tests. */
#pragma once

#include <stdint.h>

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17

#define VIRTIO_NET_S_LINK_UP 1

/* struct virtio_net_hdr with num_buffers (always present with VIRTIO_F_VERSION_1):
 * flags u8, gso_type u8, hdr_len u16, gso_size u16, csum_start u16, csum_offset u16,
 * num_buffers u16. */
#define VIRTIO_NET_HDR_SIZE 12
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_TCPV6 4

/* mac[6], status u16, max_virtqueue_pairs u16, mtu u16. */
#define VIRTIO_NET_CONFIG_SIZE 12

/* The TUN_F_* offloads a tap must be told for the negotiated features: what the guest accepted to
 * receive (GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN). */
unsigned virtio_net_tap_offloads(uint64_t features);
