#include "vmm/boot/cpio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

#define CPIO_MAX_FILE (256u << 20)

struct cpio_writer {
    FILE *f;
    char *path;
    char *tmp_path;
    uint32_t next_ino;
};

int cpio_writer_new(const char *path, struct cpio_writer **ret, struct berth_error *err)
{
    struct cpio_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return berth_error_set(err, -ENOMEM, "out of memory");
    w->next_ino = 1;
    w->path = strdup(path);
    if (!w->path || asprintf(&w->tmp_path, "%s.tmp.%d", path, (int) getpid()) < 0) {
        w->tmp_path = NULL;
        cpio_writer_abort(w);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    w->f = fopen(w->tmp_path, "wxe");
    if (!w->f) {
        int r = berth_error_errno(err, -errno, "%s", w->tmp_path);
        free(w->tmp_path);
        w->tmp_path = NULL;
        cpio_writer_abort(w);
        return r;
    }
    *ret = w;
    return 0;
}

static int pad4(struct cpio_writer *w)
{
    long pos = ftell(w->f);
    if (pos < 0)
        return -errno;
    while (pos++ % 4)
        if (fputc(0, w->f) == EOF)
            return -EIO;
    return 0;
}

static int write_header(struct cpio_writer *w, const char *name, mode_t mode, size_t size, unsigned rmaj,
                        unsigned rmin)
{
    size_t namesize = strlen(name) + 1;
    /* 6-byte magic then 13 fields of 8 hex digits: ino mode uid gid nlink mtime filesize
     * devmajor devminor rdevmajor rdevminor namesize check. */
    if (fprintf(w->f, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", w->next_ino++,
                (unsigned) mode, 0u, 0u, S_ISDIR(mode) ? 2u : 1u, 0u, (unsigned) size, 0u, 0u, rmaj, rmin,
                (unsigned) namesize, 0u) < 0)
        return -EIO;
    if (fwrite(name, 1, namesize, w->f) != namesize)
        return -EIO;
    return pad4(w);
}

static int add_entry(struct cpio_writer *w, const char *name, mode_t mode, const void *data, size_t len,
                     unsigned rmaj, unsigned rmin, struct berth_error *err)
{
    if (!name[0] || name[0] == '/' || strstr(name, ".."))
        return berth_error_set(err, -EINVAL, "initramfs: bad entry name '%s'", name);
    if (len > CPIO_MAX_FILE)
        return berth_error_set(err, -EFBIG, "initramfs: %s is larger than %u bytes", name, CPIO_MAX_FILE);
    int r = write_header(w, name, mode, len, rmaj, rmin);
    if (r == 0 && len && fwrite(data, 1, len, w->f) != len)
        r = -EIO;
    if (r == 0)
        r = pad4(w);
    if (r < 0)
        return berth_error_errno(err, r, "initramfs %s: writing %s", w->path, name);
    return 0;
}

int cpio_add_dir(struct cpio_writer *w, const char *name, mode_t mode, struct berth_error *err)
{
    return add_entry(w, name, S_IFDIR | (mode & 07777), NULL, 0, 0, 0, err);
}

int cpio_add_file(struct cpio_writer *w, const char *name, mode_t mode, const void *data, size_t len,
                  struct berth_error *err)
{
    return add_entry(w, name, S_IFREG | (mode & 07777), data, len, 0, 0, err);
}

int cpio_add_file_from(struct cpio_writer *w, const char *name, mode_t mode, const char *src,
                       struct berth_error *err)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = fs_read_file(src, CPIO_MAX_FILE, &data, &len, err);
    if (r < 0)
        return r;
    return cpio_add_file(w, name, mode, data, len, err);
}

int cpio_add_symlink(struct cpio_writer *w, const char *name, const char *target, struct berth_error *err)
{
    return add_entry(w, name, S_IFLNK | 0777, target, strlen(target), 0, 0, err);
}

int cpio_add_chardev(struct cpio_writer *w, const char *name, mode_t mode, unsigned major, unsigned minor,
                     struct berth_error *err)
{
    return add_entry(w, name, S_IFCHR | (mode & 07777), NULL, 0, major, minor, err);
}

void cpio_writer_abort(struct cpio_writer *w)
{
    if (!w)
        return;
    if (w->f)
        fclose(w->f);
    if (w->tmp_path)
        unlink(w->tmp_path);
    free(w->tmp_path);
    free(w->path);
    free(w);
}

int cpio_writer_finish(struct cpio_writer *w, struct berth_error *err)
{
    int r = write_header(w, "TRAILER!!!", 0, 0, 0, 0);
    if (r == 0 && fflush(w->f) != 0)
        r = -errno;
    if (r == 0 && fsync(fileno(w->f)) < 0)
        r = -errno;
    if (r == 0 && fclose(w->f) != 0)
        r = -errno;
    w->f = NULL;
    if (r == 0 && rename(w->tmp_path, w->path) < 0)
        r = -errno;
    if (r < 0) {
        r = berth_error_errno(err, r, "initramfs %s", w->path);
        cpio_writer_abort(w);
        return r;
    }
    free(w->tmp_path);
    w->tmp_path = NULL;
    cpio_writer_abort(w);
    return 0;
}
