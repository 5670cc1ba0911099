#include "oci/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "oci/config.h"

#define STATE_MAX (8u << 20)

void oci_state_dir_free(struct oci_state_dir *d)
{
    if (!d)
        return;
    if (d->dirfd >= 0)
        close(d->dirfd);
    free(d->path);
    free(d->id);
    free(d);
}

static int dir_new(const char *root, const char *id, struct oci_state_dir **ret, struct berth_error *err)
{
    if (!oci_id_valid(id))
        return berth_error_set(err, -EINVAL, "invalid container id '%s' (use 1-1024 of A-Z a-z 0-9 _ + - .)", id);
    struct oci_state_dir *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->dirfd = -1;
    d->path = fs_path_join(root, id);
    d->id = strdup(id);
    if (!d->path || !d->id) {
        oci_state_dir_free(d);
        return -ENOMEM;
    }
    *ret = d;
    return 0;
}

static int lock(struct oci_state_dir *d, bool exclusive, struct berth_error *err)
{
    while (flock(d->dirfd, exclusive ? LOCK_EX : LOCK_SH) < 0)
        if (errno != EINTR)
            return berth_error_errno(err, -errno, "container %s: lock", d->id);
    /* A delete that held the lock before us may have removed the directory meanwhile. */
    struct stat st;
    if (fstat(d->dirfd, &st) < 0 || st.st_nlink == 0)
        return berth_error_set(err, -ENOENT, "container %s does not exist", d->id);
    return 0;
}

int oci_state_dir_create(const char *root, const char *id, struct oci_state_dir **ret, struct berth_error *err)
{
    _cleanup_(oci_state_dir_freep) struct oci_state_dir *d = NULL;
    int r = dir_new(root, id, &d, err);
    if (r < 0)
        return r;
    r = fs_mkdir_p(root, 0711);
    if (r < 0)
        return berth_error_errno(err, r, "state root %s", root);
    if (mkdir(d->path, 0711) < 0) {
        if (errno == EEXIST)
            return berth_error_set(err, -EEXIST, "container %s already exists", id);
        return berth_error_errno(err, -errno, "%s", d->path);
    }
    d->dirfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (d->dirfd < 0) {
        r = berth_error_errno(err, -errno, "%s", d->path);
        rmdir(d->path);
        return r;
    }
    if ((r = lock(d, true, err)) < 0)
        return r;
    *ret = TAKE_PTR(d);
    return 0;
}

int oci_state_dir_open(const char *root, const char *id, bool exclusive, struct oci_state_dir **ret,
                       struct berth_error *err)
{
    _cleanup_(oci_state_dir_freep) struct oci_state_dir *d = NULL;
    int r = dir_new(root, id, &d, err);
    if (r < 0)
        return r;
    d->dirfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (d->dirfd < 0) {
        if (errno == ENOENT)
            return berth_error_set(err, -ENOENT, "container %s does not exist", id);
        return berth_error_errno(err, -errno, "%s", d->path);
    }
    if ((r = lock(d, exclusive, err)) < 0)
        return r;
    *ret = TAKE_PTR(d);
    return 0;
}

char *oci_state_path(struct oci_state_dir *d, const char *name)
{
    return fs_path_join(d->path, name);
}

int oci_state_read(struct oci_state_dir *d, json_t **ret, struct berth_error *err)
{
    _cleanup_free_ char *p = oci_state_path(d, "state.json");
    if (!p)
        return -ENOMEM;
    int r = json_load_path(p, STATE_MAX, ret, NULL);
    if (r == -ENOENT)
        return berth_error_set(err, -ENOENT, "container %s does not exist (no state; being created?)", d->id);
    if (r < 0)
        return berth_error_errno(err, r, "container %s: cannot read %s", d->id, p);
    return 0;
}

int oci_state_write(struct oci_state_dir *d, json_t *state, struct berth_error *err)
{
    _cleanup_free_ char *p = oci_state_path(d, "state.json");
    if (!p)
        return -ENOMEM;
    _cleanup_free_ char *s = json_dumps(state, JSON_COMPACT);
    if (!s)
        return berth_error_set(err, -ENOMEM, "container %s: cannot serialise state", d->id);
    return fs_write_replace(p, s, strlen(s), 0600, err);
}

int oci_state_dir_remove(struct oci_state_dir *d, struct berth_error *err)
{
    int r = fs_rm_rf(d->path);
    oci_state_dir_free(d);
    if (r < 0)
        return berth_error_errno(err, r, "removing container state");
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

int oci_state_list(const char *root, char ***ret, struct berth_error *err)
{
    _cleanup_strv_ char **v = calloc(1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    _cleanup_closedir_ DIR *dir = opendir(root);
    if (!dir) {
        if (errno == ENOENT) {
            *ret = TAKE_PTR(v);
            return 0;
        }
        return berth_error_errno(err, -errno, "%s", root);
    }
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.' || !oci_id_valid(de->d_name))
            continue;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
            continue;
        if (strv_push(&v, de->d_name) < 0)
            return -ENOMEM;
    }
    qsort(v, strv_length(v), sizeof(char *), cmp_str);
    *ret = TAKE_PTR(v);
    return 0;
}

int oci_proc_start_time(pid_t pid, uint64_t *ret_start, bool *ret_zombie)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ESRCH;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -ESRCH;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -EIO;
    p += 2;
    char state = *p;
    /* After ")" come fields 3.. ; starttime is field 22. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -EIO;
        p++;
    }
    if (ret_start)
        *ret_start = strtoull(p, NULL, 10);
    if (ret_zombie)
        *ret_zombie = state == 'Z' || state == 'X';
    return 0;
}

void oci_timestamp_now(char buf[64])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, 64, "%s.%09ldZ", when, ts.tv_nsec);
}
