/* Device nodes: the default set every container gets plus linux.devices, and the /dev symlinks.
 * In a user namespace mknod is not allowed, so the host's node is bind-mounted instead. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "runtime/container-internal.h"

static const struct oci_device default_devices[] = {
    { .path = "/dev/null", .type = 'c', .major = 1, .minor = 3 },
    { .path = "/dev/zero", .type = 'c', .major = 1, .minor = 5 },
    { .path = "/dev/full", .type = 'c', .major = 1, .minor = 7 },
    { .path = "/dev/random", .type = 'c', .major = 1, .minor = 8 },
    { .path = "/dev/urandom", .type = 'c', .major = 1, .minor = 9 },
    { .path = "/dev/tty", .type = 'c', .major = 5, .minor = 0 },
};

static int split(const char *path, int rootfd, int *ret_dirfd, const char **ret_base, char **ret_copy,
                 struct berth_error *err)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    char *slash = strrchr(copy, '/');
    *slash = '\0';
    _cleanup_close_ int p = rootfs_mkdir_p(rootfd, copy[0] ? copy : "/", err);
    if (p < 0) {
        free(copy);
        return p;
    }
    int d = fs_open_in_root(p, ".", O_RDONLY | O_DIRECTORY, 0, 0);
    if (d < 0) {
        free(copy);
        return berth_error_errno(err, d, "%s", path);
    }
    *ret_dirfd = d;
    *ret_base = slash + 1;
    *ret_copy = copy;
    return 0;
}

static int create_device(const struct oci_device *d, int rootfd, bool userns, const char *what,
                         struct berth_error *err)
{
    _cleanup_free_ char *copy = NULL;
    _cleanup_close_ int dirfd = -1;
    const char *base = NULL;
    int r = split(d->path, rootfd, &dirfd, &base, &copy, err);
    if (r < 0)
        return berth_error_prefix(err, r, "%s: ", what);
    mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
    mode_t perm = d->has_mode ? (d->mode & 07777) : 0666;
    dev_t dev = d->type == 'p' ? 0 : makedev((unsigned) d->major, (unsigned) d->minor);

    struct stat st;
    if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if ((st.st_mode & S_IFMT) == type && st.st_rdev == dev)
            goto owner;
        if (unlinkat(dirfd, base, 0) < 0)
            return berth_error_errno(err, -errno, "%s: replacing %s", what, d->path);
    }
    if (!userns || d->type == 'p') {
        if (mknodat(dirfd, base, type | perm, dev) == 0)
            goto owner;
        if (errno != EPERM || d->type == 'p')
            return berth_error_errno(err, -errno, "%s: mknod %s", what, d->path);
    }
    /* Bind the host's node over an empty file. */
    {
        int f = openat(dirfd, base, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (f < 0)
            return berth_error_errno(err, -errno, "%s: creating %s", what, d->path);
        close(f);
        _cleanup_close_ int target = fs_open_in_root(dirfd, base, O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_SYMLINKS);
        char host[64];
        snprintf(host, sizeof(host), "/dev/%s/%u:%u", d->type == 'b' ? "block" : "char", (unsigned) d->major,
                 (unsigned) d->minor);
        _cleanup_close_ int tree = open_tree(AT_FDCWD, host, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (tree < 0)
            tree = open_tree(AT_FDCWD, d->path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (target < 0 || tree < 0 ||
            move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            return berth_error_errno(err, -errno, "%s: binding the host's %s", what, d->path);
        return 0;
    }
owner:
    if ((d->has_uid || d->has_gid) &&
        fchownat(dirfd, base, d->has_uid ? d->uid : (uid_t) -1, d->has_gid ? d->gid : (gid_t) -1,
                 AT_SYMLINK_NOFOLLOW) < 0)
        return berth_error_errno(err, -errno, "%s: chown %s", what, d->path);
    if (d->has_mode && fchmodat(dirfd, base, perm, 0) < 0)
        return berth_error_errno(err, -errno, "%s: chmod %s", what, d->path);
    return 0;
}

static bool spec_has_device(const struct oci_config *c, const char *path)
{
    for (size_t i = 0; i < c->n_devices; i++)
        if (!strcmp(c->devices[i].path, path))
            return true;
    return false;
}

static bool has_mount(const struct oci_config *c, const char *dest)
{
    for (size_t i = 0; i < c->n_mounts; i++)
        if (!strcmp(c->mounts[i].destination, dest))
            return true;
    return false;
}

int devices_setup(const struct oci_config *c, int rootfd, bool userns, struct berth_error *err)
{
    for (size_t i = 0; i < sizeof(default_devices) / sizeof(default_devices[0]); i++) {
        if (spec_has_device(c, default_devices[i].path))
            continue;
        char what[64];
        snprintf(what, sizeof(what), "default device %s", default_devices[i].path);
        int r = create_device(&default_devices[i], rootfd, userns, what, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < c->n_devices; i++) {
        char what[64];
        snprintf(what, sizeof(what), "linux.devices[%zu]", i);
        int r = create_device(&c->devices[i], rootfd, userns, what, err);
        if (r < 0)
            return r;
    }
    static const struct {
        const char *name, *target;
    } links[] = {
        { "fd", "/proc/self/fd" },
        { "stdin", "/proc/self/fd/0" },
        { "stdout", "/proc/self/fd/1" },
        { "stderr", "/proc/self/fd/2" },
    };
    _cleanup_close_ int dev = fs_open_in_root(rootfd, "/dev", O_RDONLY | O_DIRECTORY, 0, 0);
    if (dev < 0)
        return berth_error_errno(err, dev, "/dev");
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
        if (symlinkat(links[i].target, dev, links[i].name) < 0 && errno != EEXIST)
            return berth_error_errno(err, -errno, "/dev/%s", links[i].name);
    if (has_mount(c, "/dev/pts")) {
        /* ptmx of the container's own devpts instance. */
        struct stat st;
        if (fstatat(dev, "ptmx", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode))
            unlinkat(dev, "ptmx", 0);
        if (symlinkat("pts/ptmx", dev, "ptmx") < 0 && errno != EEXIST)
            return berth_error_errno(err, -errno, "/dev/ptmx");
    }
    return 0;
}
