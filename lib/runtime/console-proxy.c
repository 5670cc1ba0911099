/* `run -t` / `exec -t` without --console-socket (runc's foreground mode): the runtime receives the
 * pty master itself and copies between it and its own stdio, in raw mode when stdin is a terminal,
 * forwarding window size changes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/tty.h"
#include "runtime/container-internal.h"
#include "runtime/container.h"

int console_recv_master(int sock)
{
    char buf[256];
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (!cm || cm->cmsg_type != SCM_RIGHTS)
        return -ENOENT;
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    return fd;
}

static void copy_winsize(int from, int to)
{
    struct winsize ws;
    if (ioctl(from, TIOCGWINSZ, &ws) == 0)
        ioctl(to, TIOCSWINSZ, &ws);
}

static bool pump(int from, int to)
{
    char buf[8192];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0)
        return n < 0 && (errno == EINTR || errno == EAGAIN);
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t) (n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

int console_proxy(int master, pid_t pid, const sigset_t *mask, int *ret_status)
{
    struct termios saved;
    bool raw = tty_enter_raw(STDIN_FILENO, TCSANOW, &saved);
    if (raw)
        copy_winsize(STDIN_FILENO, master);
    _cleanup_close_ int sfd = signalfd(-1, mask, SFD_CLOEXEC);
    bool in_open = true, out_open = true;
    int status = -1;
    while (status < 0) {
        struct pollfd p[3] = {
            { .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN },
            { .fd = out_open ? master : -1, .events = POLLIN },
            { .fd = sfd, .events = POLLIN },
        };
        int n = poll(p, 3, -1);
        if (n < 0 && errno != EINTR)
            break;
        if (p[0].revents & (POLLIN | POLLHUP))
            in_open = pump(STDIN_FILENO, master);
        if (p[1].revents & POLLIN)
            out_open = pump(master, STDOUT_FILENO);
        else if (p[1].revents & (POLLHUP | POLLERR))
            out_open = false;
        if (p[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGWINCH && raw)
                    copy_winsize(STDIN_FILENO, master);
                else if (si.ssi_signo != SIGCHLD)
                    kill(pid, (int) si.ssi_signo);
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            /* Drain what the program wrote before it exited. */
            while (out_open) {
                struct pollfd q = { .fd = master, .events = POLLIN };
                if (poll(&q, 1, 50) <= 0 || !(q.revents & POLLIN) || !pump(master, STDOUT_FILENO))
                    break;
            }
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
    }
    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    if (status < 0)
        return -EIO;
    *ret_status = status;
    return 0;
}
