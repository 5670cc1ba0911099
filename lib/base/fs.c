#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"

int fs_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len, struct berth_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return berth_error_errno(err, -errno, "%s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return berth_error_errno(err, -errno, "%s: stat", path);
    if (S_ISDIR(st.st_mode))
        return berth_error_set(err, -EISDIR, "%s: is a directory", path);

    size_t cap = 4096, len = 0;
    _cleanup_free_ char *buf = malloc(cap + 1);
    if (!buf)
        return berth_error_set(err, -ENOMEM, "%s: out of memory", path);
    for (;;) {
        if (len == cap) {
            if (cap > max)
                return berth_error_set(err, -EFBIG, "%s: larger than the limit of %zu bytes", path, max);
            size_t ncap = cap * 2;
            char *nbuf = realloc(buf, ncap + 1);
            if (!nbuf)
                return berth_error_set(err, -ENOMEM, "%s: out of memory", path);
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return berth_error_errno(err, -errno, "%s: read", path);
        }
        if (n == 0)
            break;
        len += (size_t) n;
        if (len > max)
            return berth_error_set(err, -EFBIG, "%s: larger than the limit of %zu bytes", path, max);
    }
    buf[len] = '\0';
    if (ret_len)
        *ret_len = len;
    *ret_data = TAKE_PTR(buf);
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

static int write_replace(const char *path, const void *data, size_t len, mode_t mode, bool durable,
                         struct berth_error *err)
{
    _cleanup_free_ char *dir = strdup(path);
    _cleanup_free_ char *tmp = NULL;
    if (!dir || asprintf(&tmp, "%s.tmp.%d", path, (int) getpid()) < 0) {
        tmp = NULL;
        return berth_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");

    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return berth_error_errno(err, -errno, "%s", tmp);
    int r = write_all(fd, data, len);
    if (r == 0 && fchmod(fd, mode) < 0)
        r = -errno;
    if (r == 0 && durable && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return berth_error_errno(err, r, "%s: atomic write", path);
    }
    if (!durable)
        return 0;
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
    return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct berth_error *err)
{
    return write_replace(path, data, len, mode, true, err);
}

int fs_write_replace(const char *path, const void *data, size_t len, mode_t mode, struct berth_error *err)
{
    return write_replace(path, data, len, mode, false, err);
}

int fs_mkdir_p(const char *path, mode_t mode)
{
    _cleanup_free_ char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, mode) < 0) {
        if (errno != EEXIST)
            return -errno;
        struct stat st;
        if (stat(p, &st) < 0)
            return -errno;
        if (!S_ISDIR(st.st_mode))
            return -ENOTDIR;
    }
    return 0;
}

static int rm_rf_at(int dfd, const char *name, dev_t dev)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    if (st.st_dev != dev)
        return -EBUSY;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    _cleanup_closedir_ DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int q = rm_rf_at(dirfd(d), de->d_name, dev);
        if (q < 0 && r == 0)
            r = q;
    }
    if (r < 0)
        return r;
    return unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

int fs_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    return rm_rf_at(AT_FDCWD, path, st.st_dev);
}

int fs_open_in_root(int root_fd, const char *path, int flags, mode_t mode, uint64_t extra_resolve)
{
    struct open_how how = {
        .flags = (uint64_t) flags | O_CLOEXEC,
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra_resolve,
    };
    while (*path == '/')
        path++;
    if (!*path)
        path = ".";
    long fd;
    do
        fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    return fd < 0 ? -errno : (int) fd;
}

int fs_mkdir_p_in_root(int root_fd, const char *path, mode_t mode)
{
    _cleanup_free_ char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    _cleanup_close_ int cur = fs_open_in_root(root_fd, "/", O_PATH | O_DIRECTORY, 0, 0);
    if (cur < 0)
        return cur;
    char *save = NULL;
    for (char *comp = strtok_r(p, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
        if (!strcmp(comp, "."))
            continue;
        if (!strcmp(comp, ".."))
            return -EINVAL;
        if (mkdirat(cur, comp, mode) < 0 && errno != EEXIST)
            return -errno;
        /* Each step is re-resolved inside the root, so a symlinked component cannot lead out. */
        int next = fs_open_in_root(cur, comp, O_PATH | O_DIRECTORY, 0, RESOLVE_NO_SYMLINKS);
        if (next < 0)
            return next;
        close(cur);
        cur = next;
    }
    return TAKE_FD(cur);
}

bool fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int fs_write_string(const char *path, const char *value)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(value);
    ssize_t n = write(fd, value, len);
    if (n < 0)
        return -errno;
    return (size_t) n == len ? 0 : -EIO;
}

char *fs_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    char *r;
    if (asprintf(&r, "%.*s/%s", (int) la, a, b) < 0)
        return NULL;
    return r;
}
