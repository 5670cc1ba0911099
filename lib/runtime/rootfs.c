/* The container's root: made a private mount point, confined path creation, masked and read-only
 * paths, pivot_root (or MS_MOVE + chroot with --no-pivot). Paths inside the rootfs are always
 * resolved through openat2(RESOLVE_IN_ROOT) from the rootfs fd, never by string concatenation. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "runtime/container-internal.h"

int rootfs_prepare(const struct oci_config *c, int early_fd, int *ret_rootfd, struct berth_error *err)
{
    /* Nothing we mount may propagate back to the host unless the spec asks for it. */
    unsigned long prop = c->rootfs_propagation ? c->rootfs_propagation : MS_SLAVE | MS_REC;
    if (mount(NULL, "/", NULL, MS_REC | (prop & ~(unsigned long) MS_REC), NULL) < 0)
        return berth_error_errno(err, -errno, "making / a %s mount", prop & MS_SHARED ? "shared" : "slave");
    /* Bind the rootfs onto itself through the descriptor opened before we became the user
     * namespace's root, which may not be allowed to walk the host path to it. */
    int tree = open_tree(early_fd, "", AT_EMPTY_PATH | AT_RECURSIVE | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0)
        return berth_error_errno(err, -errno, "root.path: bind-mounting %s", c->rootfs);
    if (move_mount(tree, "", early_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
        int r = berth_error_errno(err, -errno, "root.path: bind-mounting %s", c->rootfs);
        close(tree);
        return r;
    }
    /* Attached, the tree descriptor is the root of the new mount. */
    *ret_rootfd = tree;
    return 0;
}

int rootfs_mkdir_p(int rootfd, const char *path, struct berth_error *err)
{
    int fd = fs_open_in_root(rootfd, path, O_PATH | O_DIRECTORY, 0, 0);
    if (fd >= 0 || fd != -ENOENT)
        return fd >= 0 ? fd : berth_error_errno(err, fd, "%s", path);
    /* Walk from the root, re-resolving each prefix inside it, so a symlink planted anywhere on
     * the way resolves inside the rootfs and never on the host. */
    _cleanup_free_ char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    _cleanup_close_ int cur = fs_open_in_root(rootfd, "/", O_PATH | O_DIRECTORY, 0, 0);
    if (cur < 0)
        return berth_error_errno(err, cur, "rootfs");
    char *s = p;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        char *end = strchr(s, '/');
        if (end)
            *end = '\0';
        if (!strcmp(s, ".."))
            return berth_error_set(err, -EINVAL, "%s: '..' is not allowed here", path);
        if (strcmp(s, ".")) {
            if (mkdirat(cur, s, 0755) < 0 && errno != EEXIST)
                return berth_error_errno(err, -errno, "creating %s", path);
            int next = fs_open_in_root(rootfd, p, O_PATH | O_DIRECTORY, 0, 0);
            if (next < 0)
                return berth_error_errno(err, next, "creating %s", path);
            close(cur);
            cur = next;
        }
        if (!end)
            break;
        *end = '/';
        s = end + 1;
    }
    return TAKE_FD(cur);
}

static int mask_one(int rootfd, int devnull, const char *path, struct berth_error *err)
{
    _cleanup_close_ int fd = fs_open_in_root(rootfd, path, O_PATH, 0, 0);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return berth_error_errno(err, fd, "linux.maskedPaths: %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return berth_error_errno(err, -errno, "linux.maskedPaths: %s", path);
    _cleanup_close_ int mnt = -1;
    if (S_ISDIR(st.st_mode)) {
        _cleanup_close_ int fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fsfd < 0 || fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
            return berth_error_errno(err, -errno, "linux.maskedPaths: tmpfs for %s", path);
        mnt = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    } else {
        if (devnull < 0)
            return berth_error_set(err, -ENOENT, "linux.maskedPaths: %s: no /dev/null in the container", path);
        mnt = open_tree(devnull, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    }
    if (mnt < 0)
        return berth_error_errno(err, -errno, "linux.maskedPaths: %s", path);
    if (move_mount(mnt, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return berth_error_errno(err, -errno, "linux.maskedPaths: mounting over %s", path);
    return 0;
}

static int readonly_one(int rootfd, const char *path, struct berth_error *err)
{
    _cleanup_close_ int fd = fs_open_in_root(rootfd, path, O_PATH, 0, 0);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return berth_error_errno(err, fd, "linux.readonlyPaths: %s", path);
    _cleanup_close_ int tree = open_tree(fd, "", AT_EMPTY_PATH | AT_RECURSIVE | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0)
        return berth_error_errno(err, -errno, "linux.readonlyPaths: %s", path);
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC };
    if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
        return berth_error_errno(err, -errno, "linux.readonlyPaths: %s", path);
    if (move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return berth_error_errno(err, -errno, "linux.readonlyPaths: mounting over %s", path);
    return 0;
}

int rootfs_mask_paths(const struct oci_config *c, int rootfd, struct berth_error *err)
{
    for (size_t i = 0; i < c->n_readonly_paths; i++) {
        int r = readonly_one(rootfd, c->readonly_paths[i], err);
        if (r < 0)
            return r;
    }
    _cleanup_close_ int devnull = c->n_masked_paths ? fs_open_in_root(rootfd, "/dev/null", O_PATH, 0, 0) : -1;
    for (size_t i = 0; i < c->n_masked_paths; i++) {
        int r = mask_one(rootfd, devnull, c->masked_paths[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

int rootfs_make_readonly(struct berth_error *err)
{
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
    if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof(attr)) < 0)
        return berth_error_errno(err, -errno, "root.readonly: remounting / read-only");
    return 0;
}

int rootfs_pivot(int rootfd, bool no_pivot, unsigned long propagation, struct berth_error *err)
{
    if (fchdir(rootfd) < 0)
        return berth_error_errno(err, -errno, "entering the rootfs");
    if (no_pivot) {
        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
            return berth_error_errno(err, -errno, "--no-pivot: moving the rootfs to /");
        if (chroot(".") < 0)
            return berth_error_errno(err, -errno, "--no-pivot: chroot");
    } else {
        _cleanup_close_ int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (oldroot < 0)
            return berth_error_errno(err, -errno, "opening the old root");
        if (syscall(SYS_pivot_root, ".", ".") < 0)
            return berth_error_errno(err, -errno, "pivot_root (use --no-pivot on a ramfs root)");
        /* The old root is now stacked on "."; detach it without unmounting anything on the host. */
        if (fchdir(oldroot) < 0)
            return berth_error_errno(err, -errno, "entering the old root");
        if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
            return berth_error_errno(err, -errno, "making the old root a slave");
        if (umount2(".", MNT_DETACH) < 0)
            return berth_error_errno(err, -errno, "detaching the old root");
    }
    if (chdir("/") < 0)
        return berth_error_errno(err, -errno, "chdir /");
    /* The whole tree got rootfsPropagation before the mounts were made; here only the root mount
     * itself, so that each mount's own propagation option stands. */
    if (propagation && mount(NULL, "/", NULL, propagation & ~(unsigned long) MS_REC, NULL) < 0)
        return berth_error_errno(err, -errno, "linux.rootfsPropagation");
    return 0;
}
