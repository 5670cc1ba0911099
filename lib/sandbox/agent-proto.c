#include "sandbox/agent-proto.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static int write_full(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

static int read_full(int fd, void *data, size_t len)
{
    uint8_t *p = data;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return got == 0 ? -EPIPE : -EPROTO;
        got += (size_t) n;
    }
    return 0;
}

int agent_frame_write(int fd, uint8_t type, const void *data, size_t len)
{
    if (len > AGENT_FRAME_MAX)
        return -EMSGSIZE;
    uint8_t hdr[5] = { type, (uint8_t) (len >> 24), (uint8_t) (len >> 16), (uint8_t) (len >> 8), (uint8_t) len };
    int r = write_full(fd, hdr, sizeof(hdr));
    if (r == 0 && len)
        r = write_full(fd, data, len);
    return r;
}

static int known_type(uint8_t t)
{
    return t == AGENT_REQUEST || t == AGENT_STDIN || t == AGENT_STDIN_EOF || t == AGENT_STDOUT ||
           t == AGENT_STDERR || t == AGENT_EXIT || t == AGENT_FAILURE;
}

int agent_frame_read(int fd, uint8_t *ret_type, void *buf, size_t cap, size_t *ret_len)
{
    uint8_t hdr[5];
    int r = read_full(fd, hdr, sizeof(hdr));
    if (r < 0)
        return r;
    size_t len = (size_t) hdr[1] << 24 | (size_t) hdr[2] << 16 | (size_t) hdr[3] << 8 | hdr[4];
    if (!known_type(hdr[0]) || len > cap || len > AGENT_FRAME_MAX)
        return -EPROTO;
    if (len) {
        r = read_full(fd, buf, len);
        if (r < 0)
            return r == -EPIPE ? -EPROTO : r;
    }
    *ret_type = hdr[0];
    *ret_len = len;
    return 0;
}
