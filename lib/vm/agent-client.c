#include "vm/agent-client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "sandbox/agent-proto.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int unix_connect(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

/* Firecracker-style host-initiated vsock: "CONNECT <port>\n" answered by "OK <hostport>\n". */
static int vsock_handshake(int fd, int timeout_ms)
{
    char req[32];
    int n = snprintf(req, sizeof(req), "CONNECT %d\n", AGENT_VSOCK_PORT);
    if (write(fd, req, (size_t) n) != n)
        return -EIO;
    char line[64];
    size_t len = 0;
    while (len < sizeof(line) - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, timeout_ms) <= 0)
            return -ETIMEDOUT;
        ssize_t got = read(fd, line + len, 1);
        if (got <= 0)
            return -ECONNREFUSED;
        if (line[len++] == '\n')
            break;
    }
    line[len] = '\0';
    return strncmp(line, "OK ", 3) == 0 ? 0 : -ECONNREFUSED;
}

int vm_agent_connect(enum vm_agent_transport transport, const char *sock_path, int timeout_ms, int *ret_fd,
                     struct berth_error *err)
{
    int64_t deadline = now_ms() + timeout_ms;
    int r;
    do {
        int fd = unix_connect(sock_path);
        if (fd >= 0) {
            r = transport == VM_AGENT_VSOCK_UDS ? vsock_handshake(fd, 2000) : 0;
            if (r == 0) {
                *ret_fd = fd;
                return 0;
            }
            close(fd);
        } else {
            r = fd;
        }
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    } while (now_ms() < deadline);
    return berth_error_errno(err, r, "cannot reach the guest agent at %s", sock_path);
}

int vm_agent_exec(int chan, json_t *request, int in_fd, int out_fd, int err_fd, int *ret_status,
                  struct berth_error *err)
{
    _cleanup_free_ char *req = json_dumps(request, JSON_COMPACT);
    if (!req)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = agent_frame_write(chan, AGENT_REQUEST, req, strlen(req));
    if (r == 0 && in_fd < 0)
        r = agent_frame_write(chan, AGENT_STDIN_EOF, NULL, 0);
    if (r < 0)
        return berth_error_errno(err, r, "sending the request to the guest agent");
    _cleanup_free_ uint8_t *buf = malloc(AGENT_FRAME_MAX);
    if (!buf)
        return berth_error_set(err, -ENOMEM, "out of memory");
    for (;;) {
        struct pollfd p[2] = { { chan, POLLIN, 0 }, { in_fd, POLLIN, 0 } };
        if (poll(p, in_fd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return berth_error_errno(err, -errno, "poll");
        }
        if (in_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP))) {
            ssize_t n = read(in_fd, buf, 65536);
            if (n <= 0) {
                agent_frame_write(chan, AGENT_STDIN_EOF, NULL, 0);
                in_fd = -1;
            } else if ((r = agent_frame_write(chan, AGENT_STDIN, buf, (size_t) n)) < 0) {
                return berth_error_errno(err, r, "sending input to the guest agent");
            }
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        uint8_t type;
        size_t len;
        r = agent_frame_read(chan, &type, buf, AGENT_FRAME_MAX, &len);
        if (r < 0)
            return berth_error_errno(err, r, "the guest agent's channel broke");
        switch (type) {
        case AGENT_STDOUT:
        case AGENT_STDERR: {
            int fd = type == AGENT_STDOUT ? out_fd : err_fd;
            for (size_t off = 0; off < len;) {
                ssize_t w = write(fd, buf + off, len - off);
                if (w <= 0)
                    break;
                off += (size_t) w;
            }
            break;
        }
        case AGENT_EXIT: {
            json_t *o = json_loadb((const char *) buf, len, 0, NULL);
            json_t *st = json_object_get(o, "status");
            if (!json_is_integer(st)) {
                json_decref(o);
                return berth_error_set(err, -EPROTO, "the guest agent sent a malformed exit frame");
            }
            *ret_status = (int) json_integer_value(st);
            json_decref(o);
            return 0;
        }
        case AGENT_FAILURE:
            return berth_error_set(err, -EIO, "guest agent: %.*s", (int) (len > 512 ? 512 : len), (const char *) buf);
        default:
            return berth_error_set(err, -EPROTO, "the guest agent sent an unexpected frame '%c'", type);
        }
    }
}
