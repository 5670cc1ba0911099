#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = STDERR_FILENO;
static enum berth_log_format log_format = BERTH_LOG_TEXT;
static enum berth_log_level log_level = BERTH_LOG_WARNING;
static const char *log_program = "berth";

static const char *const level_names[] = { "error", "warning", "info", "debug" };

int berth_log_open(const char *path, enum berth_log_format format, enum berth_log_level level)
{
    log_format = format;
    log_level = level;
    if (!path)
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    return 0;
}

void berth_log_set_program(const char *name)
{
    log_program = name;
}

void berth_log_close(void)
{
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = STDERR_FILENO;
}

void berth_log(enum berth_log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    int saved = errno;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    char line[4096];
    int n;
    if (log_format == BERTH_LOG_JSON) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char when[64];
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        char stamp[96];
        snprintf(stamp, sizeof(stamp), "%s.%09ldZ", when, ts.tv_nsec);
        json_t *o = json_pack("{s:s, s:s, s:s}", "level", level_names[level], "msg", msg, "time", stamp);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        n = snprintf(line, sizeof(line), "%s\n", s ? s : msg);
        free(s);
        json_decref(o);
    } else if (log_fd == STDERR_FILENO) {
        n = snprintf(line, sizeof(line), "%s: %s%s\n", log_program,
                     level == BERTH_LOG_ERROR ? "" : level == BERTH_LOG_WARNING ? "warning: " : "", msg);
    } else {
        n = snprintf(line, sizeof(line), "%s[%d] %s: %s\n", log_program, (int) getpid(), level_names[level], msg);
    }
    if (n > 0) {
        size_t len = (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1;
        ssize_t w = write(log_fd, line, len);
        (void) w;
    }
    errno = saved;
}
