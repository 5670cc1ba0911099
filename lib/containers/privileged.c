#include "containers/privileged.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

#define HOST_DEVICES_MAX 4096

/* /dev/pts, /dev/shm and /dev/mqueue are the container's own instances; ptmx becomes a link to
 * its devpts; console is the container's terminal when it has one. */
static bool skipped(const char *path)
{
    static const char *const skip[] = { "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/ptmx", "/dev/console",
                                        "/dev/fd", NULL };
    for (size_t i = 0; skip[i]; i++)
        if (!strcmp(path, skip[i]))
            return true;
    return false;
}

static int add_host_devices(const char *dir, json_t *devices, unsigned depth)
{
    if (depth > 4)
        return 0;
    _cleanup_closedir_ DIR *d = opendir(dir);
    if (!d)
        return 0; /* no /dev (or a vanished subdirectory): nothing to pass */
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *path = fs_path_join(dir, de->d_name);
        if (!path)
            return -ENOMEM;
        struct stat st;
        if (skipped(path) || lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int r = add_host_devices(path, devices, depth + 1);
            if (r < 0)
                return r;
            continue;
        }
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
            continue;
        if (json_array_size(devices) >= HOST_DEVICES_MAX)
            return 0;
        json_array_append_new(devices, json_pack("{s:s, s:s, s:I, s:I, s:i, s:i, s:i}", "path", path, "type",
                                                 S_ISBLK(st.st_mode) ? "b" : "c", "major",
                                                 (json_int_t) major(st.st_rdev), "minor",
                                                 (json_int_t) minor(st.st_rdev), "fileMode",
                                                 (int) (st.st_mode & 07777), "uid", (int) st.st_uid, "gid",
                                                 (int) st.st_gid));
    }
    return 0;
}

/* Drops "ro" from the options of the mounts at dest. */
static void make_writable(json_t *mounts, const char *dest)
{
    size_t i;
    json_t *m;
    json_array_foreach(mounts, i, m) {
        if (strcmp(json_string_value(json_object_get(m, "destination")) ?: "", dest))
            continue;
        json_t *opts = json_object_get(m, "options");
        for (size_t k = json_array_size(opts); k-- > 0;)
            if (!strcmp(json_string_value(json_array_get(opts, k)) ?: "", "ro"))
                json_array_remove(opts, k);
        json_array_append_new(opts, json_string("rw"));
    }
}

int ctr_apply_privileged(json_t *cfg, struct berth_error *err)
{
    json_t *lnx = json_object_get(cfg, "linux");
    if (!json_is_object(lnx))
        return berth_error_set(err, -EINVAL, "internal: config has no linux object");
    json_object_del(lnx, "maskedPaths");
    json_object_del(lnx, "readonlyPaths");
    json_object_del(lnx, "seccomp");
    json_t *mounts = json_object_get(cfg, "mounts");
    make_writable(mounts, "/sys");
    make_writable(mounts, "/sys/fs/cgroup");
    json_t *res = json_object_get(lnx, "resources");
    if (!json_is_object(res)) {
        res = json_object();
        json_object_set_new(lnx, "resources", res);
    }
    json_object_set_new(res, "devices", json_pack("[{s:b, s:s}]", "allow", 1, "access", "rwm"));
    json_t *devices = json_array();
    int r = devices ? add_host_devices("/dev", devices, 0) : -ENOMEM;
    if (r < 0) {
        json_decref(devices);
        return berth_error_set(err, r, "--privileged: listing the host's devices: %s", strerror(-r));
    }
    json_object_set_new(lnx, "devices", devices);
    return 0;
}
