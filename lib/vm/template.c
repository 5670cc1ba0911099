#include "vm/template.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/process.h"
#include "image/image.h"
#include "image/mount.h"
#include "store/store.h"
#include "vmm/disk/disk-tools.h"
#include "vmm/disk/qcow2.h"

char *vm_named_template_path(const char *name)
{
    char *p;
    return asprintf(&p, "%s/templates/%s.qcow2", berth_root_dir(), name) < 0 ? NULL : p;
}

int vm_overlay_create(const char *backing, const char *backing_format, const char *disk_path, struct berth_error *err)
{
    struct qcow2_create_opts opts = { .backing = backing, .backing_format = backing_format };
    return qcow2_create(disk_path, &opts, err);
}

/* Builds the template into path: image rootfs (read-only overlay mount) -> mkfs.ext4 -d into a
 * sparse raw file -> converted to qcow2 (only the used blocks take space) -> renamed into place. */
static int build_image_template(struct image_store *is, const struct image *img, uint64_t size, const char *path,
                                struct berth_error *err)
{
    _cleanup_free_ char *mnt = NULL, *raw = NULL, *tmp = NULL;
    if (asprintf(&mnt, "%s.mnt", path) < 0 || asprintf(&raw, "%s.raw", path) < 0 ||
        asprintf(&tmp, "%s.tmp", path) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    /* Leftovers of a builder that was killed are ours to clear: we hold the lock. */
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);
    unlink(raw);
    unlink(tmp);
    if (mkdir(mnt, 0700) < 0)
        return berth_error_errno(err, -errno, "%s", mnt);
    int r = image_mount_rootfs(is, img, NULL, NULL, mnt, err);
    if (r < 0) {
        rmdir(mnt);
        return r;
    }
    r = disk_create_raw(raw, size, err);
    if (r == 0) {
        char *argv[] = { "mkfs.ext4", "-q", "-F", "-L", "berth-root", "-E", "root_owner=0:0", "-d", mnt, raw, NULL };
        r = proc_run(argv, err);
    }
    struct berth_error uerr = { 0 };
    image_umount_rootfs(mnt, &uerr);
    rmdir(mnt);
    if (r == 0)
        r = disk_convert(raw, "raw", tmp, "qcow2", 0, err);
    unlink(raw);
    if (r == 0) {
        _cleanup_close_ int fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0 || fchmod(fd, 0444) < 0 || rename(tmp, path) < 0)
            r = berth_error_errno(err, -errno, "%s", path);
    }
    if (r < 0)
        unlink(tmp);
    return r;
}

int vm_image_template(struct image_store *is, const struct image *img, uint64_t size, char **ret_path,
                      struct berth_error *err)
{
    const char *hex = strchr(img->config_digest, ':');
    hex = hex ? hex + 1 : img->config_digest;
    _cleanup_free_ char *dir = fs_path_join(berth_root_dir(), "templates");
    _cleanup_free_ char *path = NULL, *lock = NULL;
    if (!dir || asprintf(&path, "%s/image-%.16s-%llu.qcow2", dir, hex, (unsigned long long) (size >> 20)) < 0 ||
        asprintf(&lock, "%s.lock", path) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = fs_mkdir_p(dir, 0755);
    if (r < 0)
        return berth_error_errno(err, r, "%s", dir);
    if (!fs_exists(path)) {
        _cleanup_close_ int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lfd < 0 || flock(lfd, LOCK_EX) < 0)
            return berth_error_errno(err, -errno, "%s", lock);
        if (!fs_exists(path)) {
            r = build_image_template(is, img, size, path, err);
            if (r < 0)
                return berth_error_prefix(err, r, "building the disk template of image %s: ", img->digest);
        }
    }
    *ret_path = TAKE_PTR(path);
    return 0;
}
