#include "image/mount.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "image/image-internal.h"

/* An image without layers (FROM scratch) still needs a lower dir. */
static int empty_lower(struct image_store *is, char **ret, struct berth_error *err)
{
    char *p = fs_path_join(is->layers_dir, ".empty");
    if (!p)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
        int r = berth_error_errno(err, -errno, "%s", p);
        free(p);
        return r;
    }
    *ret = p;
    return 0;
}

static int lower_dirs(struct image_store *is, const struct image *img, bool need_two, char ***ret,
                      struct berth_error *err)
{
    _cleanup_strv_ char **dirs = NULL;
    int r = image_layer_dirs(is, img, &dirs, err);
    if (r < 0)
        return r;
    /* A read-only overlay needs two lower dirs on older kernels; an empty one changes nothing. */
    size_t n = strv_length(dirs);
    if (n == 0 || (need_two && n == 1)) {
        _cleanup_free_ char *e = NULL;
        r = empty_lower(is, &e, err);
        if (r < 0)
            return r;
        if (strv_push(&dirs, e) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
        /* Keep the real layer on top: move the empty dir to the bottom (index 0). */
        n = strv_length(dirs);
        char *last = dirs[n - 1];
        memmove(dirs + 1, dirs, (n - 1) * sizeof(char *));
        dirs[0] = last;
    }
    *ret = TAKE_PTR(dirs);
    return 0;
}

int image_overlay_options(struct image_store *is, const struct image *img, const char *upperdir, const char *workdir,
                          char **ret, struct berth_error *err)
{
    _cleanup_strv_ char **dirs = NULL;
    int r = lower_dirs(is, img, !upperdir, &dirs, err);
    if (r < 0)
        return r;
    size_t len = 64 + (upperdir ? strlen(upperdir) : 0) + (workdir ? strlen(workdir) : 0);
    for (size_t i = 0; dirs[i]; i++) {
        if (strpbrk(dirs[i], ":,"))
            return berth_error_set(err, -EINVAL, "%s: overlay lower dirs cannot contain ':' or ','", dirs[i]);
        len += strlen(dirs[i]) + 1;
    }
    char *s = malloc(len);
    if (!s)
        return berth_error_set(err, -ENOMEM, "out of memory");
    size_t o = (size_t) sprintf(s, "lowerdir=");
    for (size_t i = strv_length(dirs); i-- > 0;)
        o += (size_t) sprintf(s + o, "%s%s", dirs[i], i ? ":" : "");
    if (upperdir)
        o += (size_t) sprintf(s + o, ",upperdir=%s,workdir=%s", upperdir, workdir);
    *ret = s;
    return 0;
}

static int fsconfig_set(int fd, const char *key, const char *value)
{
    return syscall(SYS_fsconfig, fd, value ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, key, value, 0) < 0 ? -errno : 0;
}

static int mount_new_api(char **dirs, const char *upperdir, const char *workdir, const char *target)
{
    _cleanup_close_ int fs = (int) syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        return -errno;
    /* Top layer first, one lower dir per call: no page-size limit on the option string. */
    for (size_t i = strv_length(dirs); i-- > 0;) {
        int r = fsconfig_set(fs, "lowerdir+", dirs[i]);
        if (r < 0)
            return r == -EINVAL ? -EOPNOTSUPP : r;
    }
    if (upperdir) {
        int r = fsconfig_set(fs, "upperdir", upperdir);
        if (r == 0)
            r = fsconfig_set(fs, "workdir", workdir);
        if (r < 0)
            return r;
    }
    if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return -errno;
    _cleanup_close_ int mnt = (int) syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, upperdir ? 0 : MOUNT_ATTR_RDONLY);
    if (mnt < 0)
        return -errno;
    if (syscall(SYS_move_mount, mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return -errno;
    return 0;
}

int image_mount_rootfs(struct image_store *is, const struct image *img, const char *upperdir, const char *workdir,
                       const char *target, struct berth_error *err)
{
    if (!upperdir != !workdir)
        return berth_error_set(err, -EINVAL, "overlay: upperdir and workdir go together");
    _cleanup_strv_ char **dirs = NULL;
    int r = lower_dirs(is, img, !upperdir, &dirs, err);
    if (r < 0)
        return r;
    r = mount_new_api(dirs, upperdir, workdir, target);
    if (r == 0)
        return 0;
    if (r != -ENOSYS && r != -EOPNOTSUPP)
        return berth_error_errno(err, r, "mounting image %.19s at %s (overlayfs)", img->digest, target);
    _cleanup_free_ char *opts = NULL;
    r = image_overlay_options(is, img, upperdir, workdir, &opts, err);
    if (r < 0)
        return r;
    if (mount("overlay", target, "overlay", upperdir ? 0 : MS_RDONLY, opts) < 0)
        return berth_error_errno(err, -errno, "mounting image %.19s at %s (overlayfs)", img->digest, target);
    return 0;
}

int image_umount_rootfs(const char *target, struct berth_error *err)
{
    if (umount2(target, MNT_DETACH) < 0)
        return berth_error_errno(err, -errno, "unmounting %s", target);
    return 0;
}
