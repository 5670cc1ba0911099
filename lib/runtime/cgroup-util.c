/* Small cgroupfs file helpers shared by the v1 and v2 backends. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "runtime/cgroup-internal.h"

int cgroup_write(const char *dir, const char *file, const char *value, struct berth_error *err)
{
    _cleanup_free_ char *path = fs_path_join(dir, file);
    if (!path)
        return -ENOMEM;
    int r = fs_write_string(path, value);
    if (r < 0)
        return berth_error_errno(err, r, "cgroup: writing '%s' to %s", value, path);
    return 0;
}

int cgroup_writef(const char *dir, const char *file, struct berth_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *value = NULL;
    int n = vasprintf(&value, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    return cgroup_write(dir, file, value, err);
}

int cgroup_read(const char *dir, const char *file, char **ret)
{
    _cleanup_free_ char *path = fs_path_join(dir, file);
    if (!path)
        return -ENOMEM;
    char *data = NULL;
    size_t len = 0;
    int r = fs_read_file(path, 1 << 20, &data, &len, NULL);
    if (r < 0)
        return r;
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == ' '))
        data[--len] = '\0';
    *ret = data;
    return 0;
}

int cgroup_read_u64(const char *dir, const char *file, uint64_t *ret)
{
    _cleanup_free_ char *s = NULL;
    int r = cgroup_read(dir, file, &s);
    if (r < 0)
        return r;
    if (strcmp(s, "max") == 0) {
        *ret = UINT64_MAX;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    *ret = v;
    return 0;
}

int cgroup_stat_field(const char *text, const char *key, uint64_t *ret)
{
    size_t len = strlen(key);
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, key, len) != 0 || line[len] != ' ')
            continue;
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(line + len + 1, &end, 10);
        if (errno || end == line + len + 1)
            return -EINVAL;
        *ret = v;
        return 0;
    }
    return -ENOENT;
}

void cgroup_parse_io_v1(const char *text, uint64_t *ret_read, uint64_t *ret_write)
{
    uint64_t rd = 0, wr = 0;
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        unsigned maj, min;
        char op[16];
        unsigned long long v;
        /* "Total N" lines have no device and are skipped: the sum is ours. */
        if (sscanf(line, "%u:%u %15s %llu", &maj, &min, op, &v) != 4)
            continue;
        if (!strcmp(op, "Read"))
            rd += v;
        else if (!strcmp(op, "Write"))
            wr += v;
    }
    *ret_read = rd;
    *ret_write = wr;
}

void cgroup_parse_io_v2(const char *text, uint64_t *ret_read, uint64_t *ret_write)
{
    uint64_t rd = 0, wr = 0;
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t) (end - line) : strlen(line);
        for (const char *p = line; p && p < line + len; p = memchr(p, ' ', (size_t) (line + len - p))) {
            while (*p == ' ')
                p++;
            if (!strncmp(p, "rbytes=", 7))
                rd += strtoull(p + 7, NULL, 10);
            else if (!strncmp(p, "wbytes=", 7))
                wr += strtoull(p + 7, NULL, 10);
        }
    }
    *ret_read = rd;
    *ret_write = wr;
}

int cgroup_rmdir(const char *path)
{
    {
        _cleanup_closedir_ DIR *d = opendir(path);
        if (!d)
            return errno == ENOENT ? 0 : -errno;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            _cleanup_free_ char *sub = fs_path_join(path, de->d_name);
            if (!sub)
                return -ENOMEM;
            int r = cgroup_rmdir(sub);
            if (r < 0)
                return r;
        }
    }
    /* A cgroup whose last task just died stays busy until the kernel has reaped it; wait up to
     * about two seconds rather than leaving the directory behind. */
    for (int i = 0; i < 200; i++) {
        if (rmdir(path) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return -errno;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return -EBUSY;
}

int cgroup_mkdir_path(const char *mount, const char *path, int *ret_created, struct berth_error *err)
{
    _cleanup_free_ char *cur = strdup(mount);
    if (!cur)
        return -ENOMEM;
    int created = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t) (slash - p) : strlen(p);
        size_t old = strlen(cur);
        char *n = realloc(cur, old + len + 2);
        if (!n)
            return -ENOMEM;
        cur = n;
        cur[old] = '/';
        memcpy(cur + old + 1, p, len);
        cur[old + 1 + len] = '\0';
        if (mkdir(cur, 0755) == 0)
            created++;
        else if (errno != EEXIST)
            return berth_error_errno(err, -errno, "cgroup: creating %s", cur);
        p += len;
    }
    *ret_created = created;
    return 0;
}

int cgroup_rmdir_path(const char *mount, const char *path, int created)
{
    _cleanup_free_ char *cur = fs_path_join(mount, path);
    if (!cur)
        return -ENOMEM;
    int r = cgroup_rmdir(cur);
    if (r < 0)
        return r;
    /* Parents this manager created may be shared with other containers by now: leave them
     * when they are not empty. */
    for (int i = 1; i < created; i++) {
        char *slash = strrchr(cur, '/');
        if (!slash || (size_t) (slash - cur) <= strlen(mount))
            break;
        *slash = '\0';
        if (rmdir(cur) < 0 && errno != ENOENT)
            break;
    }
    return 0;
}

static int push_pid(pid_t **pids, size_t *n, pid_t pid)
{
    for (size_t i = 0; i < *n; i++)
        if ((*pids)[i] == pid)
            return 0;
    pid_t *p = realloc(*pids, (*n + 1) * sizeof(pid_t));
    if (!p)
        return -ENOMEM;
    p[(*n)++] = pid;
    *pids = p;
    return 0;
}

int cgroup_collect_pids(const char *dir, pid_t **pids, size_t *n)
{
    _cleanup_free_ char *procs = NULL;
    int r = cgroup_read(dir, "cgroup.procs", &procs);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    for (char *s = procs, *tok; (tok = strsep(&s, "\n"));) {
        if (!*tok)
            continue;
        long v = strtol(tok, NULL, 10);
        if (v > 0 && (r = push_pid(pids, n, (pid_t) v)) < 0)
            return r;
    }
    _cleanup_closedir_ DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *sub = fs_path_join(dir, de->d_name);
        if (!sub)
            return -ENOMEM;
        if ((r = cgroup_collect_pids(sub, pids, n)) < 0)
            return r;
    }
    return 0;
}

int cgroup_wait_content(const char *dir, const char *file, const char *want)
{
    for (int i = 0; i < 400; i++) {
        _cleanup_free_ char *s = NULL;
        int r = cgroup_read(dir, file, &s);
        if (r < 0)
            return r;
        if (strstr(s, want))
            return 0;
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return -ETIMEDOUT;
}
