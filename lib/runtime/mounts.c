/* config.json mounts with the new mount API: the mount is built detached (open_tree or
 * fsopen/fsmount), its attributes set, then attached with move_mount onto an O_PATH fd of the
 * target resolved inside the rootfs, so a symlinked target cannot lead out of it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "runtime/copyup.h"
#include "runtime/container-internal.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

static uint64_t attr_from_flags(unsigned long flags)
{
    uint64_t a = 0;
    if (flags & MS_RDONLY)
        a |= MOUNT_ATTR_RDONLY;
    if (flags & MS_NOSUID)
        a |= MOUNT_ATTR_NOSUID;
    if (flags & MS_NODEV)
        a |= MOUNT_ATTR_NODEV;
    if (flags & MS_NOEXEC)
        a |= MOUNT_ATTR_NOEXEC;
    if (flags & MS_NODIRATIME)
        a |= MOUNT_ATTR_NODIRATIME;
    if (flags & MS_NOSYMFOLLOW)
        a |= MOUNT_ATTR_NOSYMFOLLOW;
    if (flags & MS_NOATIME)
        a |= MOUNT_ATTR_NOATIME;
    else if (flags & MS_STRICTATIME)
        a |= MOUNT_ATTR_STRICTATIME;
    else if (flags & MS_RELATIME)
        a |= MOUNT_ATTR_RELATIME;
    return a;
}

/* Opens (creating when missing) the mount target: a directory, or an empty file when the source
 * is not a directory. */
static int open_target(int rootfd, const char *dest, bool want_file, struct berth_error *err)
{
    int fd = fs_open_in_root(rootfd, dest, O_PATH, 0, 0);
    if (fd >= 0 || fd != -ENOENT)
        return fd >= 0 ? fd : berth_error_errno(err, fd, "%s", dest);
    if (!want_file)
        return rootfs_mkdir_p(rootfd, dest, err);
    _cleanup_free_ char *parent = strdup(dest);
    if (!parent)
        return -ENOMEM;
    char *slash = strrchr(parent, '/');
    const char *base = slash ? slash + 1 : parent;
    if (slash)
        *slash = '\0';
    _cleanup_close_ int pfd = rootfs_mkdir_p(rootfd, parent[0] ? parent : "/", err);
    if (pfd < 0)
        return pfd;
    /* O_PATH fds cannot create; reopen the directory for it, inside the root again. */
    _cleanup_close_ int dfd = fs_open_in_root(pfd, ".", O_RDONLY | O_DIRECTORY, 0, 0);
    if (dfd < 0)
        return berth_error_errno(err, dfd, "%s", dest);
    int f = openat(dfd, base, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (f < 0 && errno != EEXIST)
        return berth_error_errno(err, -errno, "creating %s", dest);
    if (f >= 0)
        close(f);
    fd = fs_open_in_root(rootfd, dest, O_PATH, 0, 0);
    return fd >= 0 ? fd : berth_error_errno(err, fd, "%s", dest);
}

static int set_propagation(int mnt, const struct oci_mount *m)
{
    if (!m->propagation)
        return 0;
    struct mount_attr attr = { .propagation = m->propagation };
    return mount_setattr(mnt, "", AT_EMPTY_PATH | (m->propagation_rec ? AT_RECURSIVE : 0), &attr, sizeof(attr)) < 0
               ? -errno
               : 0;
}

static int fs_configure(int fsfd, const char *source, const char *data)
{
    if (source && *source && fsconfig(fsfd, FSCONFIG_SET_STRING, "source", source, 0) < 0)
        return -errno;
    if (data) {
        _cleanup_free_ char *copy = strdup(data);
        if (!copy)
            return -ENOMEM;
        char *save = NULL;
        for (char *opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(opt, '=');
            int r;
            if (eq) {
                *eq = '\0';
                r = fsconfig(fsfd, FSCONFIG_SET_STRING, opt, eq + 1, 0);
            } else {
                r = fsconfig(fsfd, FSCONFIG_SET_FLAG, opt, NULL, 0);
            }
            if (r < 0)
                return -errno;
        }
    }
    return fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ? -errno : 0;
}

/* The kernel explains fsconfig failures in the fs context's log: read it for the message. */
static const char *fs_log(int fsfd, char *buf, size_t size)
{
    ssize_t n = read(fsfd, buf, size - 1);
    if (n <= 2)
        return "";
    buf[n] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    return buf + 2; /* skip "e " */
}

static int new_fs_mount(const char *type, const char *source, const char *data, uint64_t attrs, int *ret,
                        const char *what, struct berth_error *err)
{
    _cleanup_close_ int fsfd = fsopen(type, FSOPEN_CLOEXEC);
    if (fsfd < 0) {
        if (errno == ENODEV)
            return berth_error_set(err, -ENODEV, "%s: unknown filesystem type '%s'", what, type);
        return berth_error_errno(err, -errno, "%s: fsopen %s", what, type);
    }
    int r = fs_configure(fsfd, source, data);
    if (r < 0) {
        char buf[256];
        const char *why = fs_log(fsfd, buf, sizeof(buf));
        return berth_error_errno(err, r, "%s: mounting %s%s%s", what, type, *why ? " (" : "", *why ? why : "");
    }
    int mnt = fsmount(fsfd, FSMOUNT_CLOEXEC, (unsigned) attrs);
    if (mnt < 0)
        return berth_error_errno(err, -errno, "%s: mounting %s", what, type);
    *ret = mnt;
    return 0;
}

static int attach(int mnt, int target, const char *what, struct berth_error *err)
{
    if (move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return berth_error_errno(err, -errno, "%s: attaching the mount", what);
    return 0;
}

static int bind_tree(int dfd, const char *path, bool recursive, const struct oci_mount *m, int *ret,
                     const char *what, struct berth_error *err)
{
    _cleanup_close_ int tree = open_tree(dfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
                                                        (recursive ? AT_RECURSIVE : 0) | (*path ? 0 : AT_EMPTY_PATH));
    if (tree < 0)
        return berth_error_errno(err, -errno, "%s: bind source %s", what, *path ? path : "(fd)");
    uint64_t set = attr_from_flags(m->flags), clr = attr_from_flags(m->clear);
    if (set || clr) {
        struct mount_attr attr = { .attr_set = set, .attr_clr = clr };
        if ((set | clr) & (MOUNT_ATTR_NOATIME | MOUNT_ATTR_STRICTATIME | MOUNT_ATTR_RELATIME))
            attr.attr_clr |= MOUNT_ATTR__ATIME;
        if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
            return berth_error_errno(err, -errno, "%s: setting mount options", what);
    }
    if (m->rec_attrs) {
        struct mount_attr attr = { .attr_set = attr_from_flags(m->rec_flags) };
        if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
            return berth_error_errno(err, -errno, "%s: setting recursive mount options", what);
    }
    *ret = TAKE_FD(tree);
    return 0;
}

/* "cgroup" mounts: cgroup2 on a unified host; on v1 a tmpfs with one directory per hierarchy,
 * each the container's own cgroup (the hierarchy's root seen through a cgroup namespace, or a
 * bind of the container's cgroup directory). */
static int mount_cgroup(const struct oci_config *c, const struct oci_mount *m, int rootfd, int target,
                        const char *what, struct berth_error *err)
{
    uint64_t attrs = attr_from_flags(m->flags);
    struct statfs sfs;
    if (statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC) {
        _cleanup_close_ int mnt = -1;
        int r = new_fs_mount("cgroup2", "cgroup2", NULL, attrs, &mnt, what, err);
        return r < 0 ? r : attach(mnt, target, what, err);
    }
    _cleanup_close_ int tmp = -1;
    int r = new_fs_mount("tmpfs", "tmpfs", "mode=755", attrs & ~(uint64_t) MOUNT_ATTR_RDONLY, &tmp, what, err);
    if (r < 0 || (r = attach(tmp, target, what, err)) < 0)
        return r;
    _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return berth_error_errno(err, -errno, "%s: /proc/self/cgroup", what);
    bool cgns = c->ns[OCI_NS_CGROUP].present;
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *ctrl = strchr(line, ':');
        char *path = ctrl ? strchr(ctrl + 1, ':') : NULL;
        if (!ctrl || !path)
            continue;
        *path++ = '\0';
        ctrl++;
        if (!*ctrl)
            continue; /* the (empty) unified hierarchy of a hybrid host */
        const char *dir = !strncmp(ctrl, "name=", 5) ? ctrl + 5 : ctrl;
        _cleanup_free_ char *sub = fs_path_join(m->destination, dir);
        if (!sub)
            return -ENOMEM;
        _cleanup_close_ int subfd = rootfs_mkdir_p(rootfd, sub, err);
        if (subfd < 0)
            return subfd;
        _cleanup_close_ int mnt = -1;
        if (cgns) {
            _cleanup_free_ char *data = NULL;
            if (!strncmp(ctrl, "name=", 5))
                r = asprintf(&data, "none,name=%s", ctrl + 5);
            else
                r = asprintf(&data, "%s", ctrl);
            if (r < 0)
                return -ENOMEM;
            r = new_fs_mount("cgroup", "cgroup", data, attrs, &mnt, what, err);
        } else {
            _cleanup_free_ char *host = NULL;
            if (asprintf(&host, "/sys/fs/cgroup/%s%s", dir, path) < 0)
                return -ENOMEM;
            struct oci_mount b = { .flags = m->flags };
            r = bind_tree(AT_FDCWD, host, false, &b, &mnt, what, err);
        }
        if (r < 0 || (r = attach(mnt, subfd, what, err)) < 0)
            return r;
        /* "cpu,cpuacct" is also reachable as "cpu" and "cpuacct", as on the host. */
        if (strchr(dir, ',')) {
            _cleanup_close_ int dfd = fs_open_in_root(rootfd, m->destination, O_RDONLY | O_DIRECTORY, 0, 0);
            _cleanup_free_ char *names = strdup(dir);
            char *save = NULL;
            if (dfd >= 0 && names)
                for (char *n = strtok_r(names, ",", &save); n; n = strtok_r(NULL, ",", &save))
                    if (symlinkat(dir, dfd, n) < 0 && errno != EEXIST)
                        return berth_error_errno(err, -errno, "%s: symlink %s", what, n);
        }
    }
    if (attrs & MOUNT_ATTR_RDONLY) {
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
        if (mount_setattr(tmp, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
            return berth_error_errno(err, -errno, "%s: read-only", what);
    }
    return 0;
}

static int mount_one(const struct oci_config *c, const struct oci_mount *m, size_t i, int rootfd, bool userns,
                     struct berth_error *err)
{
    char what[160];
    snprintf(what, sizeof(what), "mounts[%zu] (%s)", i, m->destination);
    int r;
    if (m->bind) {
        _cleanup_free_ char *src = m->source[0] == '/' ? strdup(m->source) : fs_path_join(c->bundle, m->source);
        if (!src)
            return -ENOMEM;
        struct stat st;
        if (stat(src, &st) < 0)
            return berth_error_errno(err, -errno, "%s: source %s", what, src);
        _cleanup_close_ int target = open_target(rootfd, m->destination, !S_ISDIR(st.st_mode), err);
        if (target < 0)
            return berth_error_prefix(err, target, "%s: target: ", what);
        _cleanup_close_ int tree = -1;
        if ((r = bind_tree(AT_FDCWD, src, m->recursive, m, &tree, what, err)) < 0 ||
            (r = attach(tree, target, what, err)) < 0)
            return r;
        if (set_propagation(tree, m) < 0)
            return berth_error_errno(err, -errno, "%s: propagation", what);
        return 0;
    }
    _cleanup_close_ int target = open_target(rootfd, m->destination, false, err);
    if (target < 0)
        return berth_error_prefix(err, target, "%s: target: ", what);
    if (!strcmp(m->type, "cgroup"))
        return mount_cgroup(c, m, rootfd, target, what, err);
    const char *type = m->type;
    _cleanup_close_ int mnt = -1;
    r = new_fs_mount(type, m->source, m->data, attr_from_flags(m->flags), &mnt, what, err);
    if (r == -EPERM && userns && !strcmp(type, "sysfs")) {
        /* A sysfs of its own needs a network namespace owned by the user namespace: fall back to
         * the host's, read-only, as runc does. */
        berth_error_clear(err);
        struct oci_mount b = { .flags = m->flags | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC };
        r = bind_tree(AT_FDCWD, "/sys", true, &b, &mnt, what, err);
    }
    if (r < 0)
        return r;
    /* Seed the still-detached tmpfs from the directory it is about to cover (podman --read-only). */
    if (m->tmpcopyup && !strcmp(type, "tmpfs") && (r = copyup_tree(target, mnt, err)) < 0)
        return berth_error_prefix(err, r, "%s: ", what);
    if ((r = attach(mnt, target, what, err)) < 0)
        return r;
    if (set_propagation(mnt, m) < 0)
        return berth_error_errno(err, -errno, "%s: propagation", what);
    return 0;
}

int mounts_setup(struct init_ctx *ctx, int rootfd, bool userns, struct berth_error *err)
{
    const struct oci_config *c = ctx->cfg;
    for (size_t i = 0; i < c->n_mounts; i++) {
        const struct oci_mount *m = &c->mounts[i];
        int r;
        if ((!strcmp(m->type, "cgroup") || m->tmpcopyup) && (r = init_join_cgroup(ctx, err)) < 0)
            return r;
        r = mount_one(c, m, i, rootfd, userns, err);
        if (r < 0)
            return r;
    }
    return 0;
}
