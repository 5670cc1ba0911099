/* The host <-> berth-agent protocol: one byte-stream (vsock connection or virtio-serial port)
 * carrying frames [type:u8][length:u32 big-endian][payload]. A session starts with a request
 * frame (JSON: {"args":[...], "env":[...], "cwd":"/", "uid":0, "gid":0}) and ends with an exit
 * frame (JSON: {"status":N}) or a failure frame (text). A request while a session runs ends the
 * old session first, so a host client that died mid-session cannot wedge the agent. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define AGENT_FRAME_MAX (1u << 20)
#define AGENT_VSOCK_PORT 1024
#define AGENT_SERIAL_NAME "berth.agent"

enum agent_frame_type {
    AGENT_REQUEST = 'R',
    AGENT_STDIN = 'I',
    AGENT_STDIN_EOF = 'E',
    AGENT_STDOUT = 'O',
    AGENT_STDERR = 'e',
    AGENT_EXIT = 'X',
    AGENT_FAILURE = 'F',
};

/* Writes one frame (all of it, retrying short writes). */
int agent_frame_write(int fd, uint8_t type, const void *data, size_t len);

/* Reads one frame into buf (capacity AGENT_FRAME_MAX). 0 and *ret_len on success, -EPIPE at a
 * clean end of stream, -EPROTO for an oversized frame or an unknown type. */
int agent_frame_read(int fd, uint8_t *ret_type, void *buf, size_t cap, size_t *ret_len);
