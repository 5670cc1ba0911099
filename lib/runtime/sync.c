#include "runtime/sync.h"

#include <errno.h>
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

int sync_recv(int fd, struct sync_msg *ret)
{
    memset(ret, 0, sizeof(*ret));
    for (;;) {
        ssize_t n = recv(fd, ret, sizeof(*ret), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EPIPE;
        if ((size_t) n < offsetof(struct sync_msg, text))
            return -EBADMSG;
        ret->text[sizeof(ret->text) - 1] = '\0';
        return 0;
    }
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
