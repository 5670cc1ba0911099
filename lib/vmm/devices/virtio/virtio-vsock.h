/* virtio-vsock wire format (spec 5.10), shared by the device and its tests. */
#pragma once

#include <stdint.h>

#define VSOCK_HOST_CID 2
#define VSOCK_HDR_SIZE 44
/* Header fields' byte offsets. */
#define VSOCK_OFF_SRC_CID 0
#define VSOCK_OFF_DST_CID 8
#define VSOCK_OFF_SRC_PORT 16
#define VSOCK_OFF_DST_PORT 20
#define VSOCK_OFF_LEN 24
#define VSOCK_OFF_TYPE 28
#define VSOCK_OFF_OP 30
#define VSOCK_OFF_FLAGS 32
#define VSOCK_OFF_BUF_ALLOC 36
#define VSOCK_OFF_FWD_CNT 40

#define VSOCK_TYPE_STREAM 1

enum {
    VSOCK_OP_INVALID = 0,
    VSOCK_OP_REQUEST = 1,
    VSOCK_OP_RESPONSE = 2,
    VSOCK_OP_RST = 3,
    VSOCK_OP_SHUTDOWN = 4,
    VSOCK_OP_RW = 5,
    VSOCK_OP_CREDIT_UPDATE = 6,
    VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_SHUTDOWN_RCV 1
#define VSOCK_SHUTDOWN_SEND 2

/* The receive buffer the host side advertises per connection (buf_alloc). */
#define VSOCK_CONN_BUF (256 * 1024)

/* Ports the host side picks for host-initiated connections start here. */
#define VSOCK_HOST_PORT_BASE (1u << 30)
