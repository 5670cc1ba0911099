/* linux.seccomp.listenerPath: the runtime hands the seccomp notify fd of a container process to
 * the agent listening there, with the "container process state" the runtime-spec describes. The
 * container process sends the fd to the runtime over the sync socket first (it cannot reach the
 * host's socket path after pivot_root, and the runtime knows the state). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "runtime/security.h"

#define W "linux.seccomp.listenerPath"

static char *process_state(json_t *seccomp, const char *id, pid_t pid, pid_t init_pid, const char *bundle,
                           json_t *annotations, const char *status)
{
    json_t *state = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", "1.2.0", "id", id, "status", status, "pid",
                              (int) init_pid, "bundle", bundle ? bundle : "");
    if (state && annotations && json_object_size(annotations))
        json_object_set(state, "annotations", annotations);
    json_t *o = state ? json_pack("{s:s, s:[s], s:i, s:o}", "ociVersion", "1.2.0", "fds", "seccompFd", "pid",
                                  (int) pid, "state", state)
                      : NULL;
    const char *meta = json_string_value(json_object_get(seccomp, "listenerMetadata"));
    if (o && meta && *meta)
        json_object_set_new(o, "metadata", json_string(meta));
    char *out = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return out;
}

int seccomp_notify_send(json_t *seccomp, const char *id, pid_t pid, pid_t init_pid, const char *bundle,
                        json_t *annotations, const char *status, int notify_fd, struct berth_error *err)
{
    const char *path = json_string_value(json_object_get(seccomp, "listenerPath"));
    if (!path || !*path)
        return berth_error_set(err, -EINVAL, W ": not set, but the filter uses SCMP_ACT_NOTIFY");
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path))
        return berth_error_set(err, -ENAMETOOLONG, W ": too long: %s", path);
    strcpy(addr.sun_path, path);
    _cleanup_free_ char *msg = process_state(seccomp, id, pid, init_pid, bundle, annotations, status);
    if (!msg)
        return berth_error_set(err, -ENOMEM, W ": out of memory");
    _cleanup_close_ int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return berth_error_errno(err, -errno, W ": socket");
    if (connect(sock, (struct sockaddr *) &addr, sizeof(addr)) < 0)
        return berth_error_errno(err, -errno, W ": connecting to %s", path);
    /* The fd rides on the first sendmsg, as the spec requires; the rest of a long state follows. */
    size_t len = strlen(msg), off = 0;
    while (off < len) {
        struct iovec iov = { .iov_base = msg + off, .iov_len = len - off };
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int))];
        } u;
        memset(&u, 0, sizeof(u));
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (off == 0) {
            mh.msg_control = u.buf;
            mh.msg_controllen = sizeof(u.buf);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &notify_fd, sizeof(int));
        }
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return berth_error_errno(err, n < 0 ? -errno : -EIO, W ": sending the seccomp fd to %s", path);
        off += (size_t) n;
    }
    return 0;
}
