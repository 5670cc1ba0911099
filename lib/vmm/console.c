#include "vmm/console.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"

int vmm_unix_listen(const char *path, struct berth_error *err)
{
    /* Bound under a temporary name and renamed once listening: a client that sees PATH can
     * connect at once. */
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char tmp[sizeof(sa.sun_path)];
    if ((size_t) snprintf(tmp, sizeof(tmp), "%s.%d~", path, (int) getpid()) >= sizeof(tmp))
        return berth_error_set(err, -ENAMETOOLONG, "socket %s: path too long", path);
    strcpy(sa.sun_path, tmp);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return berth_error_errno(err, -errno, "socket %s", path);
    struct stat st;
    if (lstat(path, &st) == 0)
        return berth_error_set(err, -EEXIST, "socket %s: the path already exists", path);
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
        return berth_error_errno(err, -errno, "socket %s: bind", path);
    if (listen(fd, 4) < 0 || rename(tmp, path) < 0) {
        int e = -errno;
        unlink(tmp);
        return berth_error_errno(err, e, "socket %s", path);
    }
    return TAKE_FD(fd);
}

/* The terminal state to restore from a signal handler: a plain copy, set before raw mode. */
static struct termios tty_saved;
static volatile sig_atomic_t tty_saved_valid;

void vmm_console_restore_tty(void)
{
    if (tty_saved_valid)
        tcsetattr(STDIN_FILENO, TCSANOW, &tty_saved);
}

static int make_pipe(int fds[2], bool big, struct berth_error *err)
{
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return berth_error_errno(err, -errno, "console: pipe");
    /* A 1 MiB pipe absorbs bursts of guest output while the event loop is busy elsewhere. */
    if (big)
        (void) fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    return 0;
}

int vmm_console_open(struct vmm_console *c, const struct vmm_config *cfg, struct berth_error *err)
{
    *c = (struct vmm_console){ .kind = cfg->console, .out_fd = -1, .in_fd = -1, .listen_fd = -1, .client_fd = -1,
                               .log_fd = -1, .hub_r = -1, .hub_w = -1, .vc_in_r = -1, .vc_in_w = -1 };
    int r = 0;
    switch (cfg->console) {
    case VMM_CONSOLE_STDIO:
        c->out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        if (c->out_fd < 0)
            return berth_error_errno(err, -errno, "console: stdout");
        c->in_fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        if (c->in_fd >= 0 && isatty(c->in_fd) && tcgetattr(c->in_fd, &c->saved) == 0) {
            /* Raw: every key reaches the guest (Ctrl-C included); Ctrl-A x gets the user out. */
            struct termios raw = c->saved;
            cfmakeraw(&raw);
            raw.c_oflag |= OPOST | ONLCR; /* keep "\n" -> "\r\n" for guests that print bare newlines */
            tty_saved = c->saved;
            tty_saved_valid = 1;
            if (tcsetattr(c->in_fd, TCSANOW, &raw) == 0)
                c->raw = true;
            else
                tty_saved_valid = 0;
        }
        break;
    case VMM_CONSOLE_FILE:
        c->out_fd = open(cfg->console_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0640);
        if (c->out_fd < 0)
            return berth_error_errno(err, -errno, "console %s", cfg->console_path);
        break;
    case VMM_CONSOLE_SOCKET: {
        int fd = vmm_unix_listen(cfg->console_path, err);
        if (fd < 0)
            return fd;
        c->listen_fd = fd;
        c->socket_path = strdup(cfg->console_path);
        if (!c->socket_path)
            r = berth_error_set(err, -ENOMEM, "out of memory");
        break;
    }
    case VMM_CONSOLE_NONE:
        break;
    }
    if (r == 0 && cfg->console_log) {
        c->log_fd = open(cfg->console_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
        if (c->log_fd < 0)
            r = berth_error_errno(err, -errno, "console log %s", cfg->console_log);
    }
    if (r == 0 && (cfg->console == VMM_CONSOLE_SOCKET || c->log_fd >= 0)) {
        int fds[2];
        if ((r = make_pipe(fds, true, err)) == 0)
            c->hub_r = fds[0], c->hub_w = fds[1];
    }
    if (r == 0 && cfg->console != VMM_CONSOLE_NONE) {
        int fds[2];
        if ((r = make_pipe(fds, false, err)) == 0)
            c->vc_in_r = fds[0], c->vc_in_w = fds[1];
    }
    if (r < 0)
        vmm_console_close(c);
    return r;
}

int vmm_console_guest_fd(const struct vmm_console *c)
{
    return c->hub_w >= 0 ? c->hub_w : c->out_fd;
}

int vmm_console_accept(struct vmm_console *c)
{
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return -errno;
    vmm_console_drop_client(c);
    c->client_fd = fd;
    return fd;
}

void vmm_console_drop_client(struct vmm_console *c)
{
    if (c->client_fd >= 0)
        close(c->client_fd);
    c->client_fd = -1;
}

static void write_fully(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t) n;
    }
}

void vmm_console_drain(struct vmm_console *c)
{
    uint8_t buf[16384];
    for (int i = 0; i < 64; i++) {
        ssize_t n = read(c->hub_r, buf, sizeof(buf));
        if (n <= 0)
            return;
        if (c->log_fd >= 0)
            write_fully(c->log_fd, buf, (size_t) n);
        if (c->out_fd >= 0)
            write_fully(c->out_fd, buf, (size_t) n);
        /* A client that does not read loses output rather than stalling the guest. */
        if (c->client_fd >= 0)
            (void) send(c->client_fd, buf, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
}

ssize_t vmm_console_filter_input(struct vmm_console *c, uint8_t *buf, size_t len)
{
    if (!c->raw)
        return (ssize_t) len;
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = buf[i];
        if (c->escape_pending) {
            c->escape_pending = false;
            if (b == 'x' || b == 'X')
                return -1;
            if (b == VMM_CONSOLE_ESCAPE)
                buf[out++] = b;
            /* Any other key after the escape is swallowed with it. */
            continue;
        }
        if (b == VMM_CONSOLE_ESCAPE) {
            c->escape_pending = true;
            continue;
        }
        buf[out++] = b;
    }
    return (ssize_t) out;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void vmm_console_close(struct vmm_console *c)
{
    if (c->raw) {
        tcsetattr(c->in_fd, TCSANOW, &c->saved);
        tty_saved_valid = 0;
    }
    close_fd(&c->out_fd);
    close_fd(&c->in_fd);
    close_fd(&c->listen_fd);
    close_fd(&c->client_fd);
    close_fd(&c->log_fd);
    close_fd(&c->hub_r);
    close_fd(&c->hub_w);
    close_fd(&c->vc_in_r);
    close_fd(&c->vc_in_w);
    if (c->socket_path)
        unlink(c->socket_path);
    free(c->socket_path);
    *c = (struct vmm_console){ .out_fd = -1, .in_fd = -1, .listen_fd = -1, .client_fd = -1, .log_fd = -1,
                               .hub_r = -1, .hub_w = -1, .vc_in_r = -1, .vc_in_w = -1 };
}
