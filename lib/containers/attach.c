#include "containers/attach.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/tty.h"
#include "containers/attach-proto.h"

/* The socket's address through /proc/self/fd/N of its directory: BERTH_RUNTIME_DIR may be longer
 * than sun_path allows, the directory fd's path never is. */
static int attach_addr(int dirfd, struct sockaddr_un *addr)
{
    *addr = (struct sockaddr_un){ .sun_family = AF_UNIX };
    snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/attach", dirfd);
    return 0;
}

int ctr_attach_listen(const char *id, int *ret_fd, struct berth_error *err)
{
    _cleanup_free_ char *dir = ctr_run_dir(id);
    if (!dir)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = fs_mkdir_p(dir, 0700);
    if (r < 0)
        return berth_error_errno(err, r, "%s", dir);
    _cleanup_close_ int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return berth_error_errno(err, -errno, "%s", dir);
    unlinkat(dirfd, "attach", 0); /* a previous run's socket */
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return berth_error_errno(err, -errno, "attach socket");
    struct sockaddr_un addr;
    attach_addr(dirfd, &addr);
    if (bind(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 || listen(fd, ATTACH_MAX_CLIENTS) < 0)
        return berth_error_errno(err, -errno, "attach socket %s/attach", dir);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

int ctr_attach_connect(const char *id, const char *name, int *ret_fd, struct berth_error *err)
{
    _cleanup_free_ char *dir = ctr_run_dir(id);
    if (!dir)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_close_ int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return berth_error_errno(err, -errno, "attach socket");
    struct sockaddr_un addr;
    attach_addr(dirfd, &addr);
    if (dirfd < 0 || connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0) {
        int e = dirfd < 0 ? ENOENT : errno;
        if (e == ENOENT || e == ECONNREFUSED)
            return berth_error_set(err, -ENOTCONN, "container %s is not running (or was started by an older berth "
                                                   "without an attach socket)", name);
        return berth_error_errno(err, -e, "attaching to container %s", name);
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}

int ctr_parse_detach_keys(const char *text, char ret_keys[CTR_DETACH_KEYS_MAX], size_t *ret_n,
                          struct berth_error *err)
{
    char keys[CTR_DETACH_KEYS_MAX];
    size_t n = 0;
    for (const char *p = text; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        char c;
        if (len == 1) {
            c = *p;
        } else if (len == 6 && !strncmp(p, "ctrl-", 5)) {
            char x = p[5];
            if (x >= 'a' && x <= 'z')
                c = (char) (x - 'a' + 1);
            else if (x == '@' || x == '[' || x == '\\' || x == ']' || x == '^' || x == '_')
                c = (char) (x - '@');
            else
                return berth_error_set(err, -EINVAL, "--detach-keys '%s': '%.*s' is not a key (ctrl-a..ctrl-z, "
                                                     "ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_)", text, (int) len, p);
        } else {
            return berth_error_set(err, -EINVAL, "--detach-keys '%s': '%.*s' is not a key: expected one character or "
                                                 "ctrl-X, separated by commas", text, (int) len, p);
        }
        if (n == CTR_DETACH_KEYS_MAX)
            return berth_error_set(err, -EINVAL, "--detach-keys '%s': at most %d keys", text, CTR_DETACH_KEYS_MAX);
        keys[n++] = c;
        p = end ? end + 1 : p + len;
        if (end && !*p)
            return berth_error_set(err, -EINVAL, "--detach-keys '%s': ends with a comma", text);
    }
    memcpy(ret_keys, keys, n);
    *ret_n = n;
    return 0;
}

size_t ctr_attach_filter_input(struct ctr_attach *a, const char *in, size_t n, char *out, bool *ret_detach)
{
    size_t o = 0;
    *ret_detach = false;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (a->n_detach_keys && c == a->detach_keys[a->matched]) {
            if (++a->matched == a->n_detach_keys) {
                a->matched = 0;
                *ret_detach = true;
                return o;
            }
            continue;
        }
        if (a->matched) {
            /* Not the sequence after all: what was held back is input. */
            memcpy(out + o, a->detach_keys, a->matched);
            o += a->matched;
            a->matched = 0;
            if (c == a->detach_keys[0]) { /* a new start (one key alone would have matched above) */
                a->matched = 1;
                continue;
            }
        }
        out[o++] = c;
    }
    return o;
}

_Static_assert(sizeof(((struct ctr_attach *) 0)->pending) == 1 + ATTACH_MSG_MAX, "pending holds one packet");

/* Sends the pending packet if the socket takes it now: 0 sent (or dropped, the monitor being
 * gone: the receiving side finds out), -EAGAIN not yet. */
static int flush_pending(struct ctr_attach *a)
{
    while (a->n_pending) {
        ssize_t w = send(a->sock, a->pending, a->n_pending, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return -EAGAIN;
        a->n_pending = 0;
    }
    return 0;
}

static void queue_packet(struct ctr_attach *a, char type, const void *data, size_t n)
{
    a->pending[0] = type;
    if (n)
        memcpy(a->pending + 1, data, n);
    a->n_pending = n + 1;
    flush_pending(a);
}

/* The current size, read when sent: when the socket is full it goes later (resize_pending). */
static void send_winsize(struct ctr_attach *a)
{
    struct winsize ws;
    a->resize_pending = false;
    if (ioctl(a->in_fd, TIOCGWINSZ, &ws) < 0 && ioctl(a->out_fd, TIOCGWINSZ, &ws) < 0)
        return;
    unsigned short v[2] = { ws.ws_row, ws.ws_col };
    char pkt[1 + sizeof(v)] = { ATTACH_MSG_WINSIZE };
    memcpy(pkt + 1, v, sizeof(v));
    ssize_t w;
    while ((w = send(a->sock, pkt, sizeof(pkt), MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR)
        ;
    a->resize_pending = w < 0 && errno == EAGAIN;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd q = { fd, POLLOUT, 0 };
            poll(&q, 1, -1);
            continue;
        }
        if (w <= 0)
            return -errno;
        p += w;
        n -= (size_t) w;
    }
    return 0;
}

/* One step of the session: >= 0 a result, -EAGAIN to go on, < 0 an error. */
static int attach_step(struct ctr_attach *a, int sfd, int *ret_value, struct berth_error *err)
{
    struct pollfd p[3] = {
        { a->sock, POLLIN | (a->n_pending || a->resize_pending ? POLLOUT : 0), 0 },
        { a->send_input && !a->input_done && !a->n_pending ? a->in_fd : -1, POLLIN, 0 },
        { sfd, POLLIN, 0 },
    };
    if (poll(p, 3, -1) < 0)
        return errno == EINTR ? -EAGAIN : berth_error_errno(err, -errno, "poll");
    if ((p[0].revents & POLLOUT) && flush_pending(a) == 0 && a->resize_pending)
        send_winsize(a);
    if (p[2].revents & POLLIN) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
            if (si.ssi_signo == SIGWINCH) {
                if (a->tty)
                    send_winsize(a);
            } else {
                *ret_value = (int) si.ssi_signo;
                return CTR_ATTACH_SIGNALED;
            }
        }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        char pkt[1 + ATTACH_MSG_MAX];
        ssize_t n = recv(a->sock, pkt, sizeof(pkt), 0);
        if (n < 0 && errno == EINTR)
            return -EAGAIN;
        if (n <= 0)
            return CTR_ATTACH_CLOSED;
        if (pkt[0] == ATTACH_MSG_EXIT && n == 1 + (ssize_t) sizeof(int32_t)) {
            int32_t code;
            memcpy(&code, pkt + 1, sizeof(code));
            *ret_value = code;
            return CTR_ATTACH_EXITED;
        }
        int fd = pkt[0] == ATTACH_MSG_STDERR ? a->err_fd : pkt[0] == ATTACH_MSG_STDOUT ? a->out_fd : -1;
        if (fd >= 0 && write_all(fd, pkt + 1, (size_t) n - 1) < 0 && errno != EPIPE)
            return berth_error_errno(err, -errno, "writing the container's output");
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        char in[ATTACH_MSG_MAX - CTR_DETACH_KEYS_MAX], out[ATTACH_MSG_MAX];
        ssize_t n = read(a->in_fd, in, sizeof(in));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return -EAGAIN;
        if (n <= 0) {
            a->input_done = true;
            queue_packet(a, ATTACH_MSG_EOF, NULL, 0);
            return -EAGAIN;
        }
        bool detach;
        size_t o = ctr_attach_filter_input(a, in, (size_t) n, out, &detach);
        if (o)
            queue_packet(a, ATTACH_MSG_INPUT, out, o);
        if (detach)
            return CTR_ATTACH_DETACHED; /* what came before the keys went, or goes with the socket */
    }
    return -EAGAIN;
}

int ctr_attach_run(struct ctr_attach *a, int *ret_value, struct berth_error *err)
{
    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGWINCH);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &old);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    struct termios saved;
    bool raw = a->tty && a->send_input && tty_enter_raw(a->in_fd, TCSADRAIN, &saved);
    if (a->tty)
        send_winsize(a);
    int value = 0, r;
    do
        r = attach_step(a, sfd, &value, err);
    while (r == -EAGAIN);
    /* The one way out: the user's terminal is restored whatever ended the session. */
    if (raw)
        tcsetattr(a->in_fd, TCSADRAIN, &saved);
    if (sfd >= 0)
        close(sfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (r >= 0)
        *ret_value = value;
    return r;
}
