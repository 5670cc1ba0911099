#include "containers/cp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "containers/run.h"
#include "image/image.h"
#include "image/mount.h"

#define CP_DEPTH_MAX 256

static int copy_tree(int sdir, const char *sname, int ddir, const char *dname, const char *what, unsigned depth,
                     struct berth_error *err)
{
    if (depth > CP_DEPTH_MAX)
        return berth_error_set(err, -ELOOP, "%s: directories nested too deep", what);
    struct stat st;
    if (fstatat(sdir, sname, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return berth_error_errno(err, -errno, "%s", what);
    if (S_ISREG(st.st_mode)) {
        _cleanup_close_ int in = openat(sdir, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (in < 0)
            return berth_error_errno(err, -errno, "%s", what);
        _cleanup_close_ int out =
            openat(ddir, dname, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 07777);
        if (out < 0)
            return berth_error_errno(err, -errno, "%s: creating %s", what, dname);
        char buf[65536];
        for (;;) {
            ssize_t n = read(in, buf, sizeof(buf));
            if (n < 0)
                return berth_error_errno(err, -errno, "%s", what);
            if (n == 0)
                break;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(out, buf + off, (size_t) (n - off));
                if (w < 0)
                    return berth_error_errno(err, -errno, "%s: writing %s", what, dname);
                off += w;
            }
        }
        fchmod(out, st.st_mode & 07777);
        return 0;
    }
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(sdir, sname, target, sizeof(target) - 1);
        if (n < 0)
            return berth_error_errno(err, -errno, "%s", what);
        target[n] = '\0';
        unlinkat(ddir, dname, 0);
        if (symlinkat(target, ddir, dname) < 0)
            return berth_error_errno(err, -errno, "%s: creating %s", what, dname);
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return 0; /* devices, fifos, sockets: not copied */
    if (mkdirat(ddir, dname, st.st_mode & 07777) < 0 && errno != EEXIST)
        return berth_error_errno(err, -errno, "%s: creating %s", what, dname);
    _cleanup_close_ int dfd = openat(ddir, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return berth_error_errno(err, -errno, "%s: %s", what, dname);
    int sfd = openat(sdir, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0)
        return berth_error_errno(err, -errno, "%s", what);
    _cleanup_closedir_ DIR *d = fdopendir(sfd);
    if (!d) {
        close(sfd);
        return berth_error_errno(err, -errno, "%s", what);
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int r = copy_tree(dirfd(d), de->d_name, dfd, de->d_name, what, depth + 1, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The last component of p ("." for "/"), and its parent ("/" or "."). */
static int split_path(const char *p, char **ret_parent, char **ret_base)
{
    _cleanup_free_ char *a = strdup(p), *b = strdup(p);
    if (!a || !b)
        return -ENOMEM;
    char *base = basename(a), *parent = dirname(b);
    if (!strcmp(base, "/"))
        base = ".";
    *ret_parent = strdup(parent);
    *ret_base = strdup(base);
    if (!*ret_parent || !*ret_base) {
        free(*ret_parent);
        free(*ret_base);
        return -ENOMEM;
    }
    return 0;
}

static bool is_mounted(const char *rootfs)
{
    struct stat a, b;
    _cleanup_free_ char *parent = fs_path_join(rootfs, "..");
    return parent && stat(rootfs, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static int copy_in_root(int rootfd, const char *cpath, const char *host_path, bool to_container, const char *name,
                        struct berth_error *err)
{
    _cleanup_free_ char *cparent = NULL, *cbase = NULL, *hparent = NULL, *hbase = NULL;
    if (split_path(cpath, &cparent, &cbase) < 0 || split_path(host_path, &hparent, &hbase) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (!to_container) {
        _cleanup_close_ int pfd = fs_open_in_root(rootfd, cparent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0);
        struct stat st;
        if (pfd < 0 || fstatat(pfd, cbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return berth_error_set(err, -ENOENT, "container %s: no such file or directory '%s'", name, cpath);
        struct stat hs;
        const char *dname = hbase;
        _cleanup_close_ int dfd = -1;
        if (stat(host_path, &hs) == 0 && S_ISDIR(hs.st_mode)) {
            dfd = open(host_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
            dname = strcmp(cbase, ".") ? cbase : "rootfs";
        } else {
            dfd = open(hparent, O_PATH | O_DIRECTORY | O_CLOEXEC);
        }
        if (dfd < 0)
            return berth_error_errno(err, -errno, "%s", host_path);
        return copy_tree(pfd, cbase, dfd, dname, cpath, 0, err);
    }
    struct stat hs;
    if (lstat(host_path, &hs) < 0)
        return berth_error_errno(err, -errno, "%s", host_path);
    _cleanup_close_ int sfd = open(hparent, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0)
        return berth_error_errno(err, -errno, "%s", hparent);
    _cleanup_close_ int dfd = fs_open_in_root(rootfd, cpath, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0);
    const char *dname = hbase;
    if (dfd < 0) {
        dfd = fs_open_in_root(rootfd, cparent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0);
        dname = cbase;
        if (dfd < 0)
            return berth_error_set(err, -ENOENT, "container %s: no such directory '%s'", name, cparent);
    }
    return copy_tree(sfd, hbase, dfd, dname, host_path, 0, err);
}

int ctr_copy(struct store *s, struct ctr_record *rec, const char *cpath, const char *host_path, bool to_container,
             struct berth_error *err)
{
    int r = ctr_refresh(s, rec, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *rootfs = ctr_path(rec, "rootfs");
    _cleanup_free_ char *upper = ctr_path(rec, "upper");
    _cleanup_free_ char *work = ctr_path(rec, "work");
    if (!rootfs || !upper || !work)
        return berth_error_set(err, -ENOMEM, "out of memory");
    bool mounted_here = false;
    if (!is_mounted(rootfs)) {
        if (!strcmp(rec->state, "running") || !strcmp(rec->state, "paused"))
            return berth_error_set(err, -EIO, "container %s: its root filesystem is not mounted", rec->name);
        /* A stopped container: its overlay (image layers + its upper dir) for the copy only. */
        _cleanup_image_store_ struct image_store *is = NULL;
        _cleanup_image_ struct image *img = NULL;
        r = image_store_open(NULL, &is, err);
        if (r == 0)
            r = image_lookup(is, rec->image_digest, &img, err);
        if (r == 0)
            r = image_mount_rootfs(is, img, upper, work, rootfs, err);
        if (r < 0)
            return r;
        mounted_here = true;
    }
    int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        r = berth_error_errno(err, -errno, "%s", rootfs);
    else
        r = copy_in_root(rootfd, cpath, host_path, to_container, rec->name, err);
    if (rootfd >= 0)
        close(rootfd);
    if (mounted_here)
        umount2(rootfs, MNT_DETACH);
    return r;
}
