/* tmpcopyup (a mount option podman sets on the tmpfs it puts over /tmp, /run, /var/tmp with
 * --read-only): the new tmpfs starts with a copy of what the image had at that path, so images
 * that ship files there keep working. The copy goes from the rootfs directory to the detached
 * tmpfs before it is attached, fd to fd, never following symlinks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <dirent.h>

#include "base/cleanup.h"
#include "runtime/copyup.h"

#define MAX_DEPTH 64

static int copy_data(int in, int out)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return 0;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t) (n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            off += w;
        }
    }
}

static int copy_entry(int src, int dst, const char *name, int depth, struct berth_error *err);

static int copy_dir(int src, int dst, int depth, struct berth_error *err)
{
    if (depth > MAX_DEPTH)
        return berth_error_set(err, -ELOOP, "tmpcopyup: directories nested deeper than %d", MAX_DEPTH);
    int dupfd = fcntl(src, F_DUPFD_CLOEXEC, 3);
    if (dupfd < 0)
        return -errno;
    _cleanup_closedir_ DIR *d = fdopendir(dupfd);
    if (!d) {
        close(dupfd);
        return -errno;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int r = copy_entry(src, dst, de->d_name, depth, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int copy_entry(int src, int dst, const char *name, int depth, struct berth_error *err)
{
    struct stat st;
    if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return berth_error_errno(err, -errno, "tmpcopyup: %s", name);
    int r = 0;
    if (S_ISDIR(st.st_mode)) {
        if (mkdirat(dst, name, st.st_mode & 07777) < 0 && errno != EEXIST)
            return berth_error_errno(err, -errno, "tmpcopyup: mkdir %s", name);
        _cleanup_close_ int s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s < 0 || d < 0)
            return berth_error_errno(err, -errno, "tmpcopyup: open %s", name);
        if ((r = copy_dir(s, d, depth + 1, err)) < 0)
            return r;
        if (fchown(d, st.st_uid, st.st_gid) < 0 || fchmod(d, st.st_mode & 07777) < 0)
            return berth_error_errno(err, -errno, "tmpcopyup: owner of %s", name);
    } else if (S_ISREG(st.st_mode)) {
        _cleanup_close_ int s = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (s < 0)
            return berth_error_errno(err, -errno, "tmpcopyup: open %s", name);
        _cleanup_close_ int d = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (d < 0)
            return berth_error_errno(err, -errno, "tmpcopyup: create %s", name);
        if ((r = copy_data(s, d)) < 0)
            return berth_error_errno(err, r, "tmpcopyup: copy %s", name);
        if (fchown(d, st.st_uid, st.st_gid) < 0 || fchmod(d, st.st_mode & 07777) < 0)
            return berth_error_errno(err, -errno, "tmpcopyup: owner of %s", name);
    } else if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);
        if (n < 0)
            return berth_error_errno(err, -errno, "tmpcopyup: readlink %s", name);
        target[n] = '\0';
        if (symlinkat(target, dst, name) < 0 || fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
            return berth_error_errno(err, -errno, "tmpcopyup: symlink %s", name);
    } else if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        /* Sockets are meaningless copied; device nodes on a tmpfs are blocked by nodev anyway. */
        if (S_ISFIFO(st.st_mode) && mkfifoat(dst, name, st.st_mode & 07777) < 0)
            return berth_error_errno(err, -errno, "tmpcopyup: mkfifo %s", name);
    }
    return 0;
}

int copyup_tree(int src_dir, int dst_dir, struct berth_error *err)
{
    /* src_dir may be an O_PATH fd: reopen it for reading. */
    _cleanup_close_ int s = openat(src_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s < 0)
        return berth_error_errno(err, -errno, "tmpcopyup: opening the directory under the mount");
    _cleanup_close_ int d = openat(dst_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return berth_error_errno(err, -errno, "tmpcopyup: opening the new tmpfs");
    struct stat st;
    if (fstat(s, &st) == 0 && (fchown(d, st.st_uid, st.st_gid) < 0 || fchmod(d, st.st_mode & 07777) < 0))
        return berth_error_errno(err, -errno, "tmpcopyup: owner of the new tmpfs");
    return copy_dir(s, d, 0, err);
}
