#include "image/unpack.h"

#include <archive.h>
#include <dirent.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/fs.h"

#define READ_CHUNK (256u * 1024u)

struct dir_time {
    char *path;
    struct timespec mtime;
};

struct unpack_ctx {
    const char *what;
    int in_fd;
    int root_fd;
    struct archive *outer, *inner;
    EVP_MD_CTX *md;
    unsigned char *cbuf, *ubuf;
    uint64_t compressed, uncompressed, entries;
    uint64_t max_bytes, max_entries, max_ratio;
    bool allow_devices, is_root;
    const struct layer_unpack_options *opts;
    uint64_t last_report;
    struct berth_error *err;
    int failed; /* set with a precise message when a callback stops libarchive */
    struct dir_time *dirs;
    size_t n_dirs, cap_dirs;
};

int parse_size(const char *s, uint64_t *ret)
{
    if (!s || !*s)
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default:
        return -EINVAL;
    }
    if (*end == 'i')
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        return -EINVAL;
    if (shift && v > (UINT64_MAX >> shift))
        return -ERANGE;
    *ret = (uint64_t) v << shift;
    return 0;
}

static uint64_t env_limit(const char *name, uint64_t dflt)
{
    uint64_t v;
    const char *s = getenv(name);
    if (s && parse_size(s, &v) == 0 && v > 0)
        return v;
    return dflt;
}

static int fail(struct unpack_ctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct unpack_ctx *c, int code, const char *fmt, ...)
{
    if (!c->failed) {
        char msg[BERTH_ERROR_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        berth_error_set(c->err, code, "%s: %s", c->what, msg);
        c->failed = code;
    }
    return c->failed;
}

static la_ssize_t outer_read(struct archive *a, void *userdata, const void **buf)
{
    struct unpack_ctx *c = userdata;
    for (;;) {
        ssize_t n = read(c->in_fd, c->cbuf, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail(c, -errno, "read error: %s", strerror(errno));
            archive_set_error(a, errno, "read error");
            return -1;
        }
        c->compressed += (uint64_t) n;
        *buf = c->cbuf;
        return n;
    }
}

static void report(struct unpack_ctx *c, int done)
{
    const struct layer_unpack_options *o = c->opts;
    if (!o || !o->progress)
        return;
    if (!done && c->uncompressed - c->last_report < (4u << 20))
        return;
    uint64_t delta = c->uncompressed - c->last_report;
    c->last_report = c->uncompressed;
    uint64_t total = delta;
    if (o->bytes_done) {
        *o->bytes_done += delta;
        total = *o->bytes_done;
    }
    struct image_progress_event ev = {
        .phase = IMAGE_PROGRESS_UNPACK, .what = c->what, .bytes = total, .item = o->item, .items = o->items,
        .done = done,
    };
    image_progress_report(o->progress, &ev);
}

/* The decompressed stream: hashed (diff_id), counted and capped, then parsed as tar. */
static la_ssize_t inner_read(struct archive *a, void *userdata, const void **buf)
{
    struct unpack_ctx *c = userdata;
    la_ssize_t n = archive_read_data(c->outer, c->ubuf, READ_CHUNK);
    if (n < 0) {
        fail(c, -EBADMSG, "cannot decompress: %s", archive_error_string(c->outer));
        archive_set_error(a, EIO, "decompression failed");
        return -1;
    }
    EVP_DigestUpdate(c->md, c->ubuf, (size_t) n);
    c->uncompressed += (uint64_t) n;
    if (c->uncompressed > c->max_bytes) {
        fail(c, -EFBIG, "uncompressed size exceeds the limit of %llu bytes (decompression bomb? raise "
             "BERTH_LAYER_MAX_BYTES or --max-layer-size if the layer is genuine)", (unsigned long long) c->max_bytes);
        archive_set_error(a, EFBIG, "too large");
        return -1;
    }
    if (c->uncompressed > LAYER_RATIO_FLOOR && c->compressed > 0 &&
        c->uncompressed / c->compressed > c->max_ratio) {
        fail(c, -EFBIG, "expands more than %llu:1 (%llu bytes from %llu): refusing a decompression bomb",
             (unsigned long long) c->max_ratio, (unsigned long long) c->uncompressed,
             (unsigned long long) c->compressed);
        archive_set_error(a, EFBIG, "too large");
        return -1;
    }
    report(c, 0);
    *buf = c->ubuf;
    return n;
}

/* "./a//b/" -> "a/b"; a leading "/" is dropped (paths are relative to the layer). Returns -EINVAL
 * for ".." components, so that no entry names anything above the layer root. "" is the root. */
static int normalize_path(const char *in, char **ret)
{
    size_t len = strlen(in);
    char *out = malloc(len + 1);
    if (!out)
        return -ENOMEM;
    size_t o = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t n = (size_t) (end - p);
        if (n == 0)
            break;
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            return -EINVAL;
        }
        if (!(n == 1 && p[0] == '.')) {
            if (o)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p = end;
    }
    out[o] = '\0';
    *ret = out;
    return 0;
}

static int open_parent(struct unpack_ctx *c, const char *path, char **ret_base, const char *entry)
{
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *parent = slash ? strndup(path, (size_t) (slash - path)) : strdup("");
    if (!parent)
        return fail(c, -ENOMEM, "out of memory");
    int fd = fs_mkdir_p_in_root(c->root_fd, parent, 0755);
    if (fd == -ELOOP || fd == -EXDEV)
        return fail(c, -ELOOP, "entry '%s': '%s' is a symlink in the layer; refusing to write through it", entry,
                    parent);
    if (fd == -ENOTDIR)
        return fail(c, -ENOTDIR, "entry '%s': '%s' is not a directory", entry, parent);
    if (fd < 0)
        return fail(c, fd, "entry '%s': cannot create its directory: %s", entry, strerror(-fd));
    *ret_base = (char *) (slash ? slash + 1 : path);
    return fd;
}

/* rm -rf of name in dfd, never following symlinks, never leaving dfd. */
static int remove_tree_at(int dfd, const char *name, int depth)
{
    if (depth > 4096)
        return -ELOOP;
    if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return -errno;
    DIR *d = fdopendir(sub);
    if (!d) {
        close(sub);
        return -errno;
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            r = remove_tree_at(dirfd(d), de->d_name, depth + 1);
    closedir(d);
    if (r < 0)
        return r;
    return unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

/* Clears the way for a new entry: tar semantics replace what is there (except dir over dir,
 * which keeps the directory and its contents: returns 1). */
static int remove_existing(int dfd, const char *name, bool keep_dir)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISDIR(st.st_mode)) {
        if (keep_dir)
            return 1;
        return remove_tree_at(dfd, name, 0);
    }
    return unlinkat(dfd, name, 0) < 0 ? -errno : 0;
}

static void apply_xattrs(struct unpack_ctx *c, struct archive_entry *e, int fd)
{
    const char *name;
    const void *value;
    size_t size;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        if (strncmp(name, "user.", 5) != 0 && strcmp(name, "security.capability") != 0)
            continue;
        if (!c->is_root && strncmp(name, "user.", 5) != 0)
            continue;
        (void) fsetxattr(fd, name, value, size, 0); /* best effort: the filesystem may lack xattrs */
    }
}

static int set_owner_mode(struct unpack_ctx *c, int fd, struct archive_entry *e, const char *entry)
{
    if (c->is_root && fchown(fd, (uid_t) archive_entry_uid(e), (gid_t) archive_entry_gid(e)) < 0)
        return fail(c, -errno, "entry '%s': chown: %s", entry, strerror(errno));
    /* After chown, which clears set-id bits. */
    if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
        return fail(c, -errno, "entry '%s': chmod: %s", entry, strerror(errno));
    return 0;
}

static int write_file(struct unpack_ctx *c, int pfd, const char *base, struct archive_entry *e, const char *entry)
{
    _cleanup_close_ int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(c, -errno, "entry '%s': %s", entry, strerror(errno));
    const void *buf;
    size_t size;
    la_int64_t offset;
    int64_t pos = 0;
    for (;;) {
        int r = archive_read_data_block(c->inner, &buf, &size, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            if (c->failed)
                return c->failed;
            return fail(c, -EBADMSG, "entry '%s': %s", entry, archive_error_string(c->inner));
        }
        const char *p = buf;
        while (size > 0) {
            ssize_t n = pwrite(fd, p, size, offset);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return fail(c, -errno, "entry '%s': write: %s", entry, strerror(errno));
            }
            p += n;
            size -= (size_t) n;
            offset += n;
        }
        if (offset > pos)
            pos = offset;
    }
    /* Sparse files end in a hole that no data block covers. */
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > pos && ftruncate(fd, archive_entry_size(e)) < 0)
        return fail(c, -errno, "entry '%s': truncate: %s", entry, strerror(errno));
    int r = set_owner_mode(c, fd, e, entry);
    if (r < 0)
        return r;
    apply_xattrs(c, e, fd);
    struct timespec ts[2] = { { archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
                              { archive_entry_mtime(e), archive_entry_mtime_nsec(e) } };
    (void) futimens(fd, ts);
    return 0;
}

static int remember_dir(struct unpack_ctx *c, const char *path, struct archive_entry *e)
{
    if (ARRAY_RESERVE(c->dirs, c->cap_dirs, c->n_dirs + 1, 64) < 0)
        return fail(c, -ENOMEM, "out of memory");
    char *p = strdup(path);
    if (!p)
        return fail(c, -ENOMEM, "out of memory");
    c->dirs[c->n_dirs++] = (struct dir_time){ p, { archive_entry_mtime(e), archive_entry_mtime_nsec(e) } };
    return 0;
}

static int make_whiteout(struct unpack_ctx *c, int pfd, const char *name, const char *entry)
{
    int r = remove_existing(pfd, name, false);
    if (r < 0)
        return fail(c, r, "entry '%s': %s", entry, strerror(-r));
    if (mknodat(pfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
        return fail(c, -errno, "entry '%s': cannot create the overlay whiteout: %s%s", entry, strerror(errno),
                    errno == EPERM ? " (whiteouts need CAP_MKNOD)" : "");
    return 0;
}

static int unpack_entry(struct unpack_ctx *c, struct archive_entry *e)
{
    const char *raw = archive_entry_pathname(e);
    if (!raw)
        return fail(c, -EBADMSG, "entry without a name");
    _cleanup_free_ char *path = NULL;
    int r = normalize_path(raw, &path);
    if (r == -EINVAL)
        return fail(c, -EINVAL, "entry '%s': '..' in a path is refused (it would leave the layer)", raw);
    if (r < 0)
        return fail(c, r, "out of memory");
    mode_t type = archive_entry_filetype(e);
    const char *hardlink = archive_entry_hardlink(e);

    if (!*path) {
        /* The layer root itself ("./"): only its metadata. */
        if (type != AE_IFDIR)
            return fail(c, -EINVAL, "entry '%s': the layer root must be a directory", raw);
        _cleanup_close_ int fd = fs_open_in_root(c->root_fd, ".", O_RDONLY | O_DIRECTORY, 0, 0);
        if (fd < 0)
            return fail(c, fd, "layer root: %s", strerror(-fd));
        r = set_owner_mode(c, fd, e, raw);
        return r < 0 ? r : remember_dir(c, "", e);
    }

    char *base = NULL;
    _cleanup_close_ int pfd = open_parent(c, path, &base, raw);
    if (pfd < 0)
        return pfd;

    if (!strncmp(base, ".wh.", 4)) {
        if (!strcmp(base, ".wh..wh..opq")) {
            _cleanup_close_ int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd < 0 || fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                return fail(c, -errno, "entry '%s': cannot mark the directory opaque: %s", raw, strerror(errno));
            return 0;
        }
        if (!strncmp(base, ".wh..wh.", 8))
            return 0; /* aufs bookkeeping (hard link dirs): meaningless for overlayfs */
        if (!base[4])
            return fail(c, -EINVAL, "entry '%s': whiteout without a name", raw);
        return make_whiteout(c, pfd, base + 4, raw);
    }

    if (hardlink) {
        _cleanup_free_ char *target = NULL;
        r = normalize_path(hardlink, &target);
        if (r == -EINVAL || (r == 0 && !*target))
            return fail(c, -EINVAL, "entry '%s': hard link target '%s' leaves the layer", raw, hardlink);
        if (r < 0)
            return fail(c, r, "out of memory");
        _cleanup_close_ int tfd = fs_open_in_root(c->root_fd, target, O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_SYMLINKS);
        struct stat st;
        if (tfd < 0 || fstat(tfd, &st) < 0)
            return fail(c, -ENOENT, "entry '%s': hard link target '%s' is not a file of this layer", raw, hardlink);
        if (S_ISDIR(st.st_mode))
            return fail(c, -EPERM, "entry '%s': hard link to a directory '%s'", raw, hardlink);
        r = remove_existing(pfd, base, false);
        if (r < 0)
            return fail(c, r, "entry '%s': %s", raw, strerror(-r));
        _cleanup_free_ char *proc = NULL;
        if (asprintf(&proc, "/proc/self/fd/%d", tfd) < 0)
            return fail(c, -ENOMEM, "out of memory");
        /* AT_SYMLINK_FOLLOW on the magic link links the very inode we resolved inside the root. */
        if (linkat(AT_FDCWD, proc, pfd, base, AT_SYMLINK_FOLLOW) < 0)
            return fail(c, -errno, "entry '%s': hard link to '%s': %s", raw, hardlink, strerror(errno));
        return 0;
    }

    struct timespec ts[2] = { { archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
                              { archive_entry_mtime(e), archive_entry_mtime_nsec(e) } };
    switch (type) {
    case AE_IFDIR: {
        r = remove_existing(pfd, base, true);
        if (r < 0)
            return fail(c, r, "entry '%s': %s", raw, strerror(-r));
        if (r == 0 && mkdirat(pfd, base, 0700) < 0)
            return fail(c, -errno, "entry '%s': mkdir: %s", raw, strerror(errno));
        _cleanup_close_ int dfd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
            return fail(c, -errno, "entry '%s': %s", raw, strerror(errno));
        r = set_owner_mode(c, dfd, e, raw);
        if (r < 0)
            return r;
        apply_xattrs(c, e, dfd);
        return remember_dir(c, path, e);
    }
    case AE_IFREG:
        r = remove_existing(pfd, base, false);
        if (r < 0)
            return fail(c, r, "entry '%s': %s", raw, strerror(-r));
        return write_file(c, pfd, base, e, raw);
    case AE_IFLNK: {
        const char *target = archive_entry_symlink(e);
        if (!target)
            return fail(c, -EBADMSG, "entry '%s': symlink without a target", raw);
        r = remove_existing(pfd, base, false);
        if (r < 0)
            return fail(c, r, "entry '%s': %s", raw, strerror(-r));
        /* The target is stored verbatim: it is never followed while unpacking, and inside a
         * container it resolves against the container's root. */
        if (symlinkat(target, pfd, base) < 0)
            return fail(c, -errno, "entry '%s': symlink: %s", raw, strerror(errno));
        if (c->is_root)
            (void) fchownat(pfd, base, (uid_t) archive_entry_uid(e), (gid_t) archive_entry_gid(e), AT_SYMLINK_NOFOLLOW);
        (void) utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
        return 0;
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
        if (type != AE_IFIFO && !c->allow_devices)
            return fail(c, -EPERM, "entry '%s': device node refused (devices are unpacked only as root, and "
                        "not when BERTH_LAYER_DEVICES=0)", raw);
        r = remove_existing(pfd, base, false);
        if (r < 0)
            return fail(c, r, "entry '%s': %s", raw, strerror(-r));
        mode_t m = (type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO) | 0600;
        if (mknodat(pfd, base, m, archive_entry_rdev(e)) < 0)
            return fail(c, -errno, "entry '%s': mknod: %s", raw, strerror(errno));
        if (c->is_root)
            (void) fchownat(pfd, base, (uid_t) archive_entry_uid(e), (gid_t) archive_entry_gid(e), AT_SYMLINK_NOFOLLOW);
        if (fchmodat(pfd, base, archive_entry_perm(e) & 07777, 0) < 0)
            return fail(c, -errno, "entry '%s': chmod: %s", raw, strerror(errno));
        (void) utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
        return 0;
    }
    case AE_IFSOCK:
        return 0; /* sockets in a layer are meaningless */
    default:
        return fail(c, -EBADMSG, "entry '%s': unknown file type 0%o", raw, (unsigned) type);
    }
}

static void apply_dir_times(struct unpack_ctx *c)
{
    /* Last, because creating entries inside a directory changes its mtime. */
    for (size_t i = c->n_dirs; i-- > 0;) {
        int fd = fs_open_in_root(c->root_fd, c->dirs[i].path, O_RDONLY | O_DIRECTORY, 0, RESOLVE_NO_SYMLINKS);
        if (fd < 0)
            continue;
        struct timespec ts[2] = { c->dirs[i].mtime, c->dirs[i].mtime };
        (void) futimens(fd, ts);
        close(fd);
    }
}

static void ctx_done(struct unpack_ctx *c)
{
    if (c->inner)
        archive_read_free(c->inner);
    if (c->outer)
        archive_read_free(c->outer);
    EVP_MD_CTX_free(c->md);
    free(c->cbuf);
    free(c->ubuf);
    for (size_t i = 0; i < c->n_dirs; i++)
        free(c->dirs[i].path);
    free(c->dirs);
}

static int unpack_run(struct unpack_ctx *c)
{
    c->outer = archive_read_new();
    c->inner = archive_read_new();
    c->md = EVP_MD_CTX_new();
    c->cbuf = malloc(READ_CHUNK);
    c->ubuf = malloc(READ_CHUNK);
    if (!c->outer || !c->inner || !c->md || !c->cbuf || !c->ubuf || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
        return fail(c, -ENOMEM, "out of memory");
    archive_read_support_filter_gzip(c->outer);
    archive_read_support_filter_zstd(c->outer);
    archive_read_support_filter_xz(c->outer);
    archive_read_support_filter_bzip2(c->outer);
    archive_read_support_format_raw(c->outer);
    if (archive_read_open(c->outer, c, NULL, outer_read, NULL) != ARCHIVE_OK)
        return fail(c, -EBADMSG, "cannot read: %s", archive_error_string(c->outer));
    struct archive_entry *e;
    int r = archive_read_next_header(c->outer, &e);
    if (r != ARCHIVE_OK)
        return fail(c, -EBADMSG, "cannot read: %s", r == ARCHIVE_EOF ? "empty" : archive_error_string(c->outer));

    archive_read_support_format_tar(c->inner);
    if (archive_read_open(c->inner, c, NULL, inner_read, NULL) != ARCHIVE_OK)
        return fail(c, -EBADMSG, "not a tar archive: %s", archive_error_string(c->inner));
    for (;;) {
        r = archive_read_next_header(c->inner, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            if (c->failed)
                return c->failed;
            return fail(c, -EBADMSG, "not a valid tar archive: %s", archive_error_string(c->inner));
        }
        if (++c->entries > c->max_entries)
            return fail(c, -EFBIG, "more than %llu entries (raise BERTH_LAYER_MAX_ENTRIES if the layer is genuine)",
                        (unsigned long long) c->max_entries);
        int q = unpack_entry(c, e);
        if (q < 0)
            return q;
    }
    /* The diff_id covers the whole stream, including the end-of-archive blocks and padding
     * libarchive does not need to read. */
    for (;;) {
        const void *dummy;
        la_ssize_t n = inner_read(c->inner, c, &dummy);
        if (n < 0)
            return c->failed ? c->failed : fail(c, -EBADMSG, "cannot decompress");
        if (n == 0)
            break;
    }
    apply_dir_times(c);
    report(c, 1);
    return 0;
}

int layer_unpack(int fd, int dir_fd, const char *what, const struct layer_unpack_options *opts,
                 struct layer_unpack_result *ret, struct berth_error *err)
{
    struct unpack_ctx c = {
        .what = what, .in_fd = fd, .root_fd = dir_fd, .err = err, .opts = opts, .is_root = geteuid() == 0,
    };
    c.max_bytes = opts && opts->max_bytes ? opts->max_bytes : env_limit("BERTH_LAYER_MAX_BYTES", LAYER_MAX_BYTES_DEFAULT);
    c.max_entries = opts && opts->max_entries ? opts->max_entries
                                              : env_limit("BERTH_LAYER_MAX_ENTRIES", LAYER_MAX_ENTRIES_DEFAULT);
    c.max_ratio = opts && opts->max_ratio ? opts->max_ratio : LAYER_MAX_RATIO_DEFAULT;
    int allow = opts ? opts->allow_devices : -1;
    const char *dev_env = getenv("BERTH_LAYER_DEVICES");
    if (allow < 0)
        allow = c.is_root && !(dev_env && !strcmp(dev_env, "0"));
    c.allow_devices = allow;
    /* A layer may not fill the disk: cap at the free space, keeping 256 MiB for everyone else. */
    struct statvfs sv;
    if (fstatvfs(dir_fd, &sv) == 0) {
        uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize;
        uint64_t reserve = 256ull << 20;
        uint64_t cap = avail > reserve ? avail - reserve : 0;
        if (cap < c.max_bytes)
            c.max_bytes = cap;
    }
    int r = unpack_run(&c);
    if (r == 0 && ret) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        EVP_DigestFinal_ex(c.md, md, &mdlen);
        static const char hex[] = "0123456789abcdef";
        memcpy(ret->diff_id, "sha256:", 7);
        for (unsigned i = 0; i < 32; i++) {
            ret->diff_id[7 + 2 * i] = hex[md[i] >> 4];
            ret->diff_id[8 + 2 * i] = hex[md[i] & 15];
        }
        ret->diff_id[71] = '\0';
        ret->bytes = c.uncompressed;
        ret->entries = c.entries;
    }
    ctx_done(&c);
    return r;
}
