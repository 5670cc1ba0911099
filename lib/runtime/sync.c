#include "runtime/sync.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int sync_send(int fd, enum sync_type type, int value, const char *text)
{
    struct sync_msg m = { .type = type, .value = value };
    if (text)
        snprintf(m.text, sizeof(m.text), "%s", text);
    size_t len = offsetof(struct sync_msg, text) + strlen(m.text) + 1;
    for (;;) {
        ssize_t n = send(fd, &m, len, MSG_NOSIGNAL);
        if (n >= 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

int sync_send_fd(int fd, enum sync_type type, int passfd)
{
    struct sync_msg m = { .type = type };
    struct iovec iov = { .iov_base = &m, .iov_len = offsetof(struct sync_msg, text) + 1 };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof(u));
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &passfd, sizeof(int));
    for (;;) {
        if (sendmsg(fd, &mh, MSG_NOSIGNAL) >= 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

int sync_recv_fd(int fd, struct sync_msg *ret, int *ret_fd)
{
    memset(ret, 0, sizeof(*ret));
    if (ret_fd)
        *ret_fd = -1;
    bool reset_seen = false;
    for (;;) {
        struct iovec iov = { .iov_base = ret, .iov_len = sizeof(*ret) };
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int))];
        } u;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        /* A peer that exits with one of our messages unread leaves ECONNRESET, reported once,
         * ahead of what it sent before exiting (its SYNC_ERROR): read on to get that. */
        if (n < 0 && errno == ECONNRESET && !reset_seen) {
            reset_seen = true;
            continue;
        }
        if (n < 0)
            return -errno;
        int got = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
                memcpy(&got, CMSG_DATA(c), sizeof(int));
        if (n == 0 || (size_t) n < offsetof(struct sync_msg, text)) {
            if (got >= 0)
                close(got);
            return n == 0 ? -EPIPE : -EBADMSG;
        }
        if (got >= 0) {
            if (ret_fd)
                *ret_fd = got;
            else
                close(got);
        }
        ret->text[sizeof(ret->text) - 1] = '\0';
        return 0;
    }
}

int sync_recv(int fd, struct sync_msg *ret)
{
    return sync_recv_fd(fd, ret, NULL);
}

int sync_expect(int fd, enum sync_type type, struct sync_msg *ret, struct berth_error *err)
{
    struct sync_msg m;
    int r = sync_recv(fd, &m);
    if (r < 0)
        return berth_error_errno(err, r, "container process exited during setup");
    if (m.type == SYNC_ERROR)
        return berth_error_set(err, m.value < 0 ? m.value : -EIO, "%s", m.text);
    if (m.type != type)
        return berth_error_set(err, -EBADMSG, "container setup: unexpected message %u (expected %u)", m.type, type);
    if (ret)
        *ret = m;
    return 0;
}

void sync_fail(int fd, int code, const struct berth_error *err)
{
    const char *msg = err && err->code ? berth_error_message(err) : strerror(code < 0 ? -code : EIO);
    sync_send(fd, SYNC_ERROR, err && err->code ? err->code : code, msg);
    _exit(1);
}
