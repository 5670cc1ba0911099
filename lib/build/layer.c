#include "build/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include "base/array.h"
#include "base/cleanup.h"

#define LAYER_DEPTH_MAX 256

struct layer_writer {
    struct archive *a;
    EVP_MD_CTX *md;
    z_stream z;
    bool z_init;
    struct blob_writer *w;
    struct berth_error *err;
    int failed;
};

static int deflate_out(struct layer_writer *lw, int flush)
{
    unsigned char buf[65536];
    do {
        lw->z.next_out = buf;
        lw->z.avail_out = sizeof(buf);
        int zr = deflate(&lw->z, flush);
        if (zr == Z_STREAM_ERROR)
            return berth_error_set(lw->err, -EIO, "layer: gzip failed");
        size_t have = sizeof(buf) - lw->z.avail_out;
        if (have) {
            int r = blob_writer_write(lw->w, buf, have, lw->err);
            if (r < 0)
                return r;
        }
    } while (lw->z.avail_out == 0);
    return 0;
}

static la_ssize_t tar_write(struct archive *a, void *userdata, const void *buf, size_t len)
{
    struct layer_writer *lw = userdata;
    EVP_DigestUpdate(lw->md, buf, len);
    if (lw->w) {
        lw->z.next_in = (unsigned char *) buf;
        lw->z.avail_in = (uInt) len;
        int r = deflate_out(lw, Z_NO_FLUSH);
        if (r < 0) {
            lw->failed = r;
            archive_set_error(a, -r, "writing the layer blob failed");
            return -1;
        }
    }
    return (la_ssize_t) len;
}

void layer_writer_abort(struct layer_writer *lw)
{
    if (!lw)
        return;
    if (lw->a)
        archive_write_free(lw->a);
    if (lw->z_init)
        deflateEnd(&lw->z);
    if (lw->w)
        blob_writer_abort(lw->w);
    EVP_MD_CTX_free(lw->md);
    free(lw);
}

int layer_writer_begin(struct blobstore *bs, struct layer_writer **ret, struct berth_error *err)
{
    struct layer_writer *lw = calloc(1, sizeof(*lw));
    if (!lw)
        return berth_error_set(err, -ENOMEM, "out of memory");
    lw->md = EVP_MD_CTX_new();
    lw->a = archive_write_new();
    if (!lw->md || !lw->a || EVP_DigestInit_ex(lw->md, EVP_sha256(), NULL) != 1) {
        layer_writer_abort(lw);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    if (bs) {
        /* windowBits 15 + 16: a gzip header and trailer around the deflate stream. */
        if (deflateInit2(&lw->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            layer_writer_abort(lw);
            return berth_error_set(err, -ENOMEM, "layer: gzip init failed");
        }
        lw->z_init = true;
        int r = blobstore_writer_begin(bs, &lw->w, err);
        if (r < 0) {
            layer_writer_abort(lw);
            return r;
        }
    }
    lw->err = err;
    archive_write_set_format_pax_restricted(lw->a);
    archive_write_set_bytes_in_last_block(lw->a, 1);
    if (archive_write_open(lw->a, lw, NULL, tar_write, NULL) != ARCHIVE_OK) {
        int r = berth_error_set(err, -EIO, "layer: %s", archive_error_string(lw->a));
        layer_writer_abort(lw);
        return r;
    }
    *ret = lw;
    return 0;
}

static int write_header(struct layer_writer *lw, struct archive_entry *e)
{
    if (archive_write_header(lw->a, e) < ARCHIVE_WARN)
        return lw->failed ? lw->failed
                          : berth_error_set(lw->err, -EIO, "layer: %s: %s", archive_entry_pathname(e),
                                            archive_error_string(lw->a));
    return 0;
}

static int add_whiteout(struct layer_writer *lw, const char *dest, const char *base_override)
{
    const char *slash = strrchr(dest, '/');
    char name[PATH_MAX];
    if (base_override)
        snprintf(name, sizeof(name), "%s%s%s", dest, *dest ? "/" : "", base_override);
    else if (slash)
        snprintf(name, sizeof(name), "%.*s/.wh.%s", (int) (slash - dest), dest, slash + 1);
    else
        snprintf(name, sizeof(name), ".wh.%s", dest);
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return berth_error_set(lw->err, -ENOMEM, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 0);
    int r = write_header(lw, e);
    archive_entry_free(e);
    return r;
}

static int copy_file(struct layer_writer *lw, int fd, const char *dest)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0)
            return berth_error_errno(lw->err, -errno, "reading %s", dest);
        if (n == 0)
            return 0;
        if (archive_write_data(lw->a, buf, (size_t) n) < 0)
            return lw->failed ? lw->failed
                              : berth_error_set(lw->err, -EIO, "layer: %s: %s", dest, archive_error_string(lw->a));
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static int add_node(struct layer_writer *lw, int dir_fd, const char *name, const char *dest, const char *src,
                    const struct layer_tree_opts *o, unsigned depth);

static int add_children(struct layer_writer *lw, int dir_fd, const char *name, const char *dest, const char *src,
                        const struct layer_tree_opts *o, unsigned depth)
{
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return berth_error_errno(lw->err, -errno, "opening %s", *dest ? dest : "/");
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return berth_error_errno(lw->err, -errno, "opening %s", dest);
    }
    _cleanup_closedir_ _owner_ DIR *dp = d;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (ARRAY_RESERVE(names, cap, n + 1, 32) < 0) {
            r = berth_error_set(lw->err, -ENOMEM, "out of memory");
            break;
        }
        if (!(names[n] = strdup(de->d_name))) {
            r = berth_error_set(lw->err, -ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    /* Sorted: the same tree always gives the same tar, hence the same diff_id. */
    if (r == 0)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; r == 0 && i < n; i++) {
        char child[PATH_MAX];
        if ((size_t) snprintf(child, sizeof(child), "%s%s%s", dest, *dest ? "/" : "", names[i]) >= sizeof(child)) {
            r = berth_error_set(lw->err, -ENAMETOOLONG, "%s/%s: path too long", dest, names[i]);
            break;
        }
        char child_src[PATH_MAX];
        if ((size_t) snprintf(child_src, sizeof(child_src), "%s%s%s", src, *src ? "/" : "", names[i]) >=
            sizeof(child_src)) {
            r = berth_error_set(lw->err, -ENAMETOOLONG, "%s/%s: path too long", src, names[i]);
            break;
        }
        r = add_node(lw, dirfd(d), names[i], child, child_src, o, depth + 1);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return r;
}

static int add_node(struct layer_writer *lw, int dir_fd, const char *name, const char *dest, const char *src,
                    const struct layer_tree_opts *o, unsigned depth)
{
    if (depth > LAYER_DEPTH_MAX)
        return berth_error_set(lw->err, -ELOOP, "%s: directories nested too deep", dest);
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return berth_error_errno(lw->err, -errno, "%s", *dest ? dest : name);
    if (o->whiteouts && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
        return add_whiteout(lw, dest, NULL);
    if (S_ISSOCK(st.st_mode))
        return 0;
    int ignored = build_ignore_check(o->ignore, src, S_ISDIR(st.st_mode));
    if (ignored == IGNORE_EXCLUDED)
        return 0;
    int r = 0;
    if (*dest) {
        struct archive_entry *e = archive_entry_new();
        if (!e)
            return berth_error_set(lw->err, -ENOMEM, "out of memory");
        archive_entry_copy_stat(e, &st);
        archive_entry_set_pathname(e, dest);
        archive_entry_set_nlink(e, 1);
        archive_entry_unset_atime(e);
        archive_entry_unset_ctime(e);
        archive_entry_unset_birthtime(e);
        archive_entry_set_ino64(e, 0);
        archive_entry_set_dev(e, 0);
        if (o->zero_mtime)
            archive_entry_set_mtime(e, 0, 0);
        if (o->uid >= 0)
            archive_entry_set_uid(e, (la_int64_t) o->uid);
        if (o->gid >= 0)
            archive_entry_set_gid(e, (la_int64_t) o->gid);
        if (o->has_mode && !S_ISLNK(st.st_mode))
            archive_entry_set_perm(e, (mode_t) o->mode);
        if (!S_ISREG(st.st_mode))
            archive_entry_set_size(e, 0);
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlinkat(dir_fd, name, target, sizeof(target) - 1);
            if (n < 0) {
                archive_entry_free(e);
                return berth_error_errno(lw->err, -errno, "%s", dest);
            }
            target[n] = '\0';
            archive_entry_set_symlink(e, target);
        }
        _cleanup_close_ int fd = -1;
        if (S_ISREG(st.st_mode)) {
            fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                archive_entry_free(e);
                return berth_error_errno(lw->err, -errno, "%s", dest);
            }
        }
        r = write_header(lw, e);
        archive_entry_free(e);
        if (r == 0 && fd >= 0)
            r = copy_file(lw, fd, dest);
        if (r < 0)
            return r;
    }
    if (!S_ISDIR(st.st_mode))
        return 0;
    if (o->whiteouts && *dest) {
        char v[4];
        int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        ssize_t n = fd >= 0 ? fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v)) : -1;
        if (fd >= 0)
            close(fd);
        if (n == 1 && v[0] == 'y' && (r = add_whiteout(lw, dest, ".wh..wh..opq")) < 0)
            return r;
    }
    return add_children(lw, dir_fd, name, dest, src, o, depth);
}

int layer_writer_add_tree(struct layer_writer *lw, int dir_fd, const char *name, const char *dest,
                          const struct layer_tree_opts *opts, struct berth_error *err)
{
    lw->err = err;
    return add_node(lw, dir_fd, name, dest, opts->src ? opts->src : "", opts, 0);
}

int layer_writer_finish(struct layer_writer *lw, char ret_diff_id[72], char **ret_digest, uint64_t *ret_size,
                        struct berth_error *err)
{
    lw->err = err;
    int r = 0;
    if (archive_write_close(lw->a) != ARCHIVE_OK)
        r = lw->failed ? lw->failed : berth_error_set(err, -EIO, "layer: %s", archive_error_string(lw->a));
    if (r == 0 && lw->w) {
        lw->z.next_in = NULL;
        lw->z.avail_in = 0;
        r = deflate_out(lw, Z_FINISH);
    }
    if (r < 0) {
        layer_writer_abort(lw);
        return r;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(lw->md, md, &mdlen);
    memcpy(ret_diff_id, "sha256:", 7);
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(ret_diff_id + 7 + 2 * i, 3, "%02x", md[i]);
    char *digest = NULL;
    uint64_t size = 0;
    if (lw->w) {
        size = blob_writer_size(lw->w);
        struct blob_writer *w = lw->w;
        lw->w = NULL;
        r = blob_writer_commit(w, NULL, &digest, err);
    }
    layer_writer_abort(lw);
    if (r < 0)
        return r;
    if (ret_digest)
        *ret_digest = digest;
    else
        free(digest);
    if (ret_size)
        *ret_size = size;
    return 0;
}
