/* berth-monitor: the small parent of one container's init (it is a child subreaper), alive as long
 * as the container. It copies the container's stdout and stderr (fds 3 and 4) into the log as JSON
 * lines {"time","stream","log"} and, when the init exits, writes the exit status and time to the
 * exit file atomically; then it runs the --on-exit command (berth's cleanup: --rm, restart policy).
 * Static and free of libraries beyond libc, so it costs well under 1 MiB of memory per container.
 *
 * Usage: berth-monitor --pid PID --log FILE --exit FILE [--on-exit PROGRAM ARG...] */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
    pid_t init = 0;
    const char *log_path = NULL, *exit_path = NULL;
    char **on_exit = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pid") && i + 1 < argc)
            init = (pid_t) atoi(argv[++i]);
        else if (!strcmp(argv[i], "--log") && i + 1 < argc)
            log_path = argv[++i];
        else if (!strcmp(argv[i], "--exit") && i + 1 < argc)
            exit_path = argv[++i];
        else if (!strcmp(argv[i], "--on-exit") && i + 1 < argc) {
            on_exit = argv + i + 1;
            break;
        } else {
            fprintf(stderr, "berth-monitor: unknown argument '%s'\n"
                            "usage: berth-monitor --pid PID --log FILE --exit FILE [--on-exit PROGRAM ARG...]\n", argv[i]);
            return 2;
        }
    }
    if (init <= 0 || !log_path || !exit_path) {
        fprintf(stderr, "berth-monitor: --pid, --log and --exit are required (it is started by berth run)\n");
        return 2;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGPIPE, SIG_IGN);
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    struct stream streams[2] = { { .fd = 3, .name = "stdout" }, { .fd = 4, .name = "stderr" } };
    for (int i = 0; i < 2; i++)
        if (fcntl(streams[i].fd, F_GETFD) < 0)
            streams[i].fd = -1;

    int status = -1;
    int open_streams = (streams[0].fd >= 0) + (streams[1].fd >= 0);
    /* Until the init is gone and both pipes reached EOF (every writer, exec'd helpers included). */
    while (status < 0 || open_streams > 0) {
        struct pollfd p[2] = { { streams[0].fd, POLLIN, 0 }, { streams[1].fd, POLLIN, 0 } };
        int n = poll(p, 2, status < 0 ? 200 : 2000);
        if (n == 0 && status >= 0)
            break; /* a grandchild keeps a pipe open past the init's exit: stop waiting for it */
        for (int i = 0; i < 2; i++) {
            if (streams[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            struct stream *s = &streams[i];
            ssize_t r = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
            if (r <= 0) {
                flush_lines(s, 1);
                close(s->fd);
                s->fd = -1;
                open_streams--;
                continue;
            }
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
    write_exit(exit_path, status);
    if (on_exit) {
        execv(on_exit[0], on_exit);
        fprintf(stderr, "berth-monitor: cannot run %s: %s\n", on_exit[0], strerror(errno));
        return 1;
    }
    return 0;
}
