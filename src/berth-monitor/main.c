/* berth-monitor: the small parent of one container's init (it is a child subreaper), alive as long
 * as the container. It copies the container's stdout and stderr (fds 3 and 4) into the log as JSON
 * lines {"time","stream","log"} and, when the init exits, writes the exit status and time to the
 * exit file atomically; then it runs the --on-exit command (berth's cleanup: --rm, restart policy).
 * Static and free of libraries beyond libc, so it costs well under 1 MiB of memory per container.
 *
 * With --tty, fd 3 is the master of the container's pty (its console) and there is no fd 4: the
 * monitor keeps the master for the container's whole life, so the terminal outlives any client.
 * With --attach, fd 5 is a listening SOCK_SEQPACKET socket: clients (berth run -i/-t, berth attach)
 * get the output live and send input, window sizes and end of input (containers/attach-proto.h).
 * With --stdin, fd 6 is the write end of the container's stdin pipe (-i without a pty).
 * With --client, fd 7 is an already connected client (berth exec -it: the one client of an exec'd
 * process, which needs no socket on disk; once it detaches, no other can come).
 * While no client is attached the output still goes to the log and the container never blocks on it.
 * Without --log the output only goes to the clients; without --exit the status only goes to them.
 *
 * Usage: berth-monitor --pid PID [--log FILE] [--exit FILE] [--tty] [--attach] [--stdin] [--client]
 *                      [--on-exit PROGRAM ARG...] */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "containers/attach-proto.h"

#define LINE_MAX_BYTES 16384

struct stream {
    int fd;
    const char *name;
    char buf[LINE_MAX_BYTES];
    size_t len;
};

static int log_fd = -1;

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t) w;
    }
}

/* One JSON line per output line; bytes that need it are escaped. */
static void emit(const char *stream, const char *data, size_t len)
{
    static char out[LINE_MAX_BYTES * 6 + 256];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t o = (size_t) snprintf(out, sizeof(out), "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\",\"stream\":\"%s\",\"log\":\"",
                                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                                 ts.tv_nsec, stream);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) data[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char) c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t) snprintf(out + o, 8, "\\u%04x", c);
        } else {
            out[o++] = (char) c;
        }
    }
    memcpy(out + o, "\"}\n", 3);
    write_all(log_fd, out, o + 3);
}

static void flush_lines(struct stream *s, int final)
{
    size_t start = 0;
    for (size_t i = 0; i < s->len; i++)
        if (s->buf[i] == '\n') {
            emit(s->name, s->buf + start, i + 1 - start);
            start = i + 1;
        }
    if (start == 0 && (s->len == sizeof(s->buf) || (final && s->len))) {
        emit(s->name, s->buf, s->len);
        start = s->len;
    }
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
}

static int write_exit(const char *path, int status)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    char line[128];
    int n = snprintf(line, sizeof(line), "{\"exit_code\":%d,\"finished\":%lld}\n", status, (long long) time(NULL));
    write_all(fd, line, (size_t) n);
    fsync(fd);
    close(fd);
    return rename(tmp, path) < 0 ? -errno : 0;
}

/* Attached clients, each with the one output packet its socket did not take yet. While any client
 * has one, the container's output is not read: a slow reader (berth run -i ... | slow) slows the
 * container down rather than lose output, as with Docker's attach; a client that goes away is
 * dropped and the container goes on. */
static int clients[ATTACH_MAX_CLIENTS];
static char client_out[ATTACH_MAX_CLIENTS][1 + ATTACH_MSG_MAX];
static size_t client_out_len[ATTACH_MAX_CLIENTS];
static int n_clients;

/* Input on its way to the container (the pty master or the stdin pipe, both non-blocking). While
 * some is left, no client packet is read: the clients' sends then wait, and so do their readers
 * (backpressure from a container that reads slowly, nothing dropped and the monitor never blocks). */
static char input[ATTACH_MSG_MAX];
static size_t input_len, input_off;

static void flush_input(int fd)
{
    while (input_off < input_len) {
        ssize_t w = write(fd, input + input_off, input_len - input_off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return;
        if (w <= 0)
            break; /* the container closed its input: what is left has no reader */
        input_off += (size_t) w;
    }
    input_len = input_off = 0;
}

static void drop_client(int i)
{
    close(clients[i]);
    n_clients--;
    clients[i] = clients[n_clients];
    client_out_len[i] = client_out_len[n_clients];
    if (client_out_len[i])
        memcpy(client_out[i], client_out[n_clients], client_out_len[i]);
    client_out_len[n_clients] = 0;
}

static bool stalled(void)
{
    for (int i = 0; i < n_clients; i++)
        if (client_out_len[i])
            return true;
    return false;
}

/* Sends client i's pending packet if its socket takes it; false when the client is gone. */
static bool flush_client(int i)
{
    while (client_out_len[i]) {
        ssize_t w = send(clients[i], client_out[i], client_out_len[i], MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return true;
        if (w < 0)
            return false;
        client_out_len[i] = 0;
    }
    return true;
}

/* One packet (len <= ATTACH_MSG_MAX) to every client, left pending where a socket is full. */
static void broadcast(char type, const char *data, size_t len)
{
    for (int i = n_clients - 1; i >= 0; i--) {
        client_out[i][0] = type;
        memcpy(client_out[i] + 1, data, len);
        client_out_len[i] = len + 1;
        if (!flush_client(i))
            drop_client(i);
    }
}

/* Until every client took its pending packet or went away (the end: nothing else to do). */
static void flush_clients_blocking(void)
{
    while (stalled()) {
        struct pollfd p[ATTACH_MAX_CLIENTS];
        for (int i = 0; i < n_clients; i++)
            p[i] = (struct pollfd){ client_out_len[i] ? clients[i] : -1, POLLOUT, 0 };
        if (poll(p, (nfds_t) n_clients, -1) < 0 && errno != EINTR)
            return;
        for (int i = n_clients - 1; i >= 0; i--)
            if (p[i].revents && !flush_client(i))
                drop_client(i);
    }
}

/* One packet from client i; returns false when the client went away. */
static bool client_message(int i, int input_fd, bool tty, int *stdin_fd)
{
    static char pkt[1 + ATTACH_MSG_MAX];
    ssize_t n = recv(clients[i], pkt, sizeof(pkt), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    switch (pkt[0]) {
    case ATTACH_MSG_INPUT:
        if (input_fd >= 0) {
            memcpy(input, pkt + 1, (size_t) n - 1);
            input_len = (size_t) n - 1;
            input_off = 0;
            flush_input(input_fd);
        }
        break;
    case ATTACH_MSG_EOF:
        if (!tty && *stdin_fd >= 0) {
            close(*stdin_fd);
            *stdin_fd = -1;
        }
        break;
    case ATTACH_MSG_WINSIZE:
        if (tty && n == 1 + 2 * (ssize_t) sizeof(unsigned short)) {
            struct winsize ws = { 0 };
            memcpy(&ws.ws_row, pkt + 1, sizeof(ws.ws_row));
            memcpy(&ws.ws_col, pkt + 1 + sizeof(ws.ws_row), sizeof(ws.ws_col));
            ioctl(input_fd, TIOCSWINSZ, &ws);
        }
        break;
    default:
        break;
    }
    return true;
}

int main(int argc, char **argv)
{
    pid_t init = 0;
    const char *log_path = NULL, *exit_path = NULL;
    char **on_exit = NULL;
    bool tty = false, attach = false, has_stdin = false, has_client = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pid") && i + 1 < argc)
            init = (pid_t) atoi(argv[++i]);
        else if (!strcmp(argv[i], "--log") && i + 1 < argc)
            log_path = argv[++i];
        else if (!strcmp(argv[i], "--exit") && i + 1 < argc)
            exit_path = argv[++i];
        else if (!strcmp(argv[i], "--tty"))
            tty = true;
        else if (!strcmp(argv[i], "--attach"))
            attach = true;
        else if (!strcmp(argv[i], "--stdin"))
            has_stdin = true;
        else if (!strcmp(argv[i], "--client"))
            has_client = true;
        else if (!strcmp(argv[i], "--on-exit") && i + 1 < argc) {
            on_exit = argv + i + 1;
            break;
        } else {
            fprintf(stderr, "berth-monitor: unknown argument '%s'\n"
                            "usage: berth-monitor --pid PID [--log FILE] [--exit FILE] [--tty] [--attach] [--stdin] "
                            "[--client] [--on-exit PROGRAM ARG...]\n", argv[i]);
            return 2;
        }
    }
    if (init <= 0) {
        fprintf(stderr, "berth-monitor: --pid is required (it is started by berth run and berth exec)\n");
        return 2;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGPIPE, SIG_IGN);
    if (log_path)
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    struct stream streams[2] = { { .fd = 3, .name = "stdout" }, { .fd = tty ? -1 : 4, .name = "stderr" } };
    for (int i = 0; i < 2; i++)
        if (streams[i].fd >= 0 && fcntl(streams[i].fd, F_GETFD) < 0)
            streams[i].fd = -1;
    int listen_fd = attach && fcntl(5, F_GETFD) >= 0 ? 5 : -1;
    int stdin_fd = !tty && has_stdin && fcntl(6, F_GETFD) >= 0 ? 6 : -1;
    int input_fd = tty ? streams[0].fd : stdin_fd;
    if (input_fd >= 0)
        fcntl(input_fd, F_SETFL, fcntl(input_fd, F_GETFL) | O_NONBLOCK);
    if (has_client && fcntl(7, F_GETFD) >= 0) {
        fcntl(7, F_SETFD, FD_CLOEXEC);
        clients[n_clients++] = 7;
    }
    for (int fd = 3; fd <= 6; fd++)
        if (fd == listen_fd || fd == stdin_fd || fd == streams[0].fd || fd == streams[1].fd)
            fcntl(fd, F_SETFD, FD_CLOEXEC); /* none of them is for the --on-exit program */

    int status = -1;
    int open_streams = (streams[0].fd >= 0) + (streams[1].fd >= 0);
    /* Until the init is gone and both pipes reached EOF (every writer, exec'd helpers included). */
    while (status < 0 || open_streams > 0) {
        if (input_fd < 0)
            input_len = input_off = 0;
        bool pending = input_len > input_off, stall = stalled();
        struct pollfd p[4 + ATTACH_MAX_CLIENTS] = {
            { stall ? -1 : streams[0].fd, POLLIN, 0 },
            { stall ? -1 : streams[1].fd, POLLIN, 0 },
            { n_clients < ATTACH_MAX_CLIENTS ? listen_fd : -1, POLLIN, 0 },
            { pending ? input_fd : -1, POLLOUT, 0 },
        };
        int nc = n_clients;
        for (int i = 0; i < nc; i++) {
            short ev = (short) ((pending ? 0 : POLLIN) | (client_out_len[i] ? POLLOUT : 0));
            p[4 + i] = (struct pollfd){ ev ? clients[i] : -1, ev, 0 };
        }
        int n = poll(p, (nfds_t) (4 + nc), status < 0 ? 200 : 2000);
        if (n == 0 && status >= 0 && !stall)
            break; /* a grandchild keeps a pipe open past the init's exit: stop waiting for it */
        if (p[3].revents)
            flush_input(input_fd);
        /* Clients first: one that connected before the container started sees its first output.
         * One input packet at a time: the others wait until it is written. */
        for (int i = nc - 1; i >= 0; i--) {
            short rev = p[4 + i].revents;
            if (client_out_len[i] && (rev & (POLLOUT | POLLHUP | POLLERR)) && !flush_client(i))
                drop_client(i);
            else if (input_len == input_off && (rev & (POLLIN | POLLHUP | POLLERR)) &&
                     !client_message(i, input_fd, tty, &stdin_fd))
                drop_client(i);
        }
        if (!tty)
            input_fd = stdin_fd; /* closed by an end-of-input message */
        if (p[2].revents & POLLIN) {
            int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0)
                clients[n_clients++] = c;
        }
        for (int i = 0; i < 2; i++) {
            if (streams[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            struct stream *s = &streams[i];
            size_t room = sizeof(s->buf) - s->len;
            ssize_t r = read(s->fd, s->buf + s->len, room > ATTACH_MSG_MAX ? ATTACH_MSG_MAX : room);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0) { /* EOF, or EIO on a pty master whose every peer closed */
                flush_lines(s, 1);
                close(s->fd);
                if (input_fd == s->fd)
                    input_fd = -1;
                s->fd = -1;
                open_streams--;
                continue;
            }
            broadcast(i == 0 ? ATTACH_MSG_STDOUT : ATTACH_MSG_STDERR, s->buf + s->len, (size_t) r);
            s->len += (size_t) r;
            if (log_fd >= 0)
                flush_lines(s, 0);
            else
                s->len = 0;
        }
        int st;
        pid_t w;
        while ((w = waitpid(-1, &st, WNOHANG)) > 0)
            if (w == init)
                status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (w < 0 && errno == ECHILD && status < 0)
            status = 255; /* the init is not our child: nothing to wait for */
    }
    for (int i = 0; i < 2; i++)
        if (streams[i].fd >= 0)
            flush_lines(&streams[i], 1);
    if (exit_path)
        write_exit(exit_path, status);
    /* Recorded first, so that a client seeing the exit finds the container exited. */
    flush_clients_blocking();
    int32_t code = status;
    broadcast(ATTACH_MSG_EXIT, (const char *) &code, sizeof(code));
    flush_clients_blocking();
    while (n_clients > 0)
        drop_client(n_clients - 1);
    if (listen_fd >= 0)
        close(listen_fd);
    if (on_exit) {
        execv(on_exit[0], on_exit);
        fprintf(stderr, "berth-monitor: cannot run %s: %s\n", on_exit[0], strerror(errno));
        return 1;
    }
    return 0;
}
