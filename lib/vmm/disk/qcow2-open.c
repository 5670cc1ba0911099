/* Opening qcow2 images and their backing chains (any depth, qcow2 or raw, loops refused). */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "vmm/disk/qcow2-priv.h"

char *qcow2_backing_path(const char *image_path, const char *name)
{
    if (name[0] == '/')
        return strdup(name);
    const char *slash = strrchr(image_path, '/');
    if (!slash)
        return strdup(name);
    char *p = NULL;
    if (asprintf(&p, "%.*s/%s", (int) (slash - image_path), image_path, name) < 0)
        return NULL;
    return p;
}

static int chain_push(struct qcow2_chain *chain, const char *path, const struct stat *st, struct berth_error *err)
{
    for (unsigned i = 0; i < chain->depth; i++)
        if (chain->dev[i] == st->st_dev && chain->ino[i] == st->st_ino)
            return berth_error_set(err, -ELOOP, "%s: backing-file loop: this file is already in the chain above it",
                                   path);
    if (chain->depth > QCOW2_MAX_BACKING_DEPTH)
        return berth_error_set(err, -ELOOP, "%s: backing chain deeper than %d files", path, QCOW2_MAX_BACKING_DEPTH);
    chain->dev[chain->depth] = st->st_dev;
    chain->ino[chain->depth] = st->st_ino;
    chain->depth++;
    return 0;
}

static void free_q(struct qcow2 *q)
{
    struct disk tmp = {.ops = &qcow2_ops, .priv = q};
    struct disk *d = calloc(1, sizeof(*d));
    if (!d) {
        /* Out of memory while unwinding: close what matters. */
        if (q->fd >= 0)
            close(q->fd);
        return;
    }
    *d = tmp;
    q->read_only = true; /* nothing to flush for a half-open image */
    qcow2_ops.close(d);
}

int qcow2_open_backing(struct qcow2 *q, struct qcow2_chain *chain, struct berth_error *err)
{
    _cleanup_free_ char *path = qcow2_backing_path(q->path, q->backing_name);
    if (!path)
        return -ENOMEM;
    const char *fmt = q->backing_format;
    if (fmt && strcmp(fmt, "qcow2") && strcmp(fmt, "raw"))
        return berth_error_set(err, -ENOTSUP, "%s: backing file '%s': format '%s' is not supported", q->path,
                               q->backing_name, fmt);
    /* O_NONBLOCK: a FIFO named as backing file must not hang the open. */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return berth_error_errno(err, -errno, "%s: backing file '%s'", q->path, q->backing_name);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return berth_error_errno(err, -errno, "%s: backing file '%s'", q->path, q->backing_name);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return berth_error_set(err, -EINVAL, "%s: backing file '%s' is not a regular file or block device", q->path,
                               q->backing_name);
    if (q->backing_root) {
        _cleanup_free_ char *real = realpath(path, NULL);
        size_t n = strlen(q->backing_root);
        if (!real || strncmp(real, q->backing_root, n) || (real[n] != '/' && q->backing_root[n - 1] != '/'))
            return berth_error_set(err, -EPERM, "%s: backing file '%s' lies outside %s", q->path, q->backing_name,
                                   q->backing_root);
    }
    bool is_qcow2 = fmt ? !strcmp(fmt, "qcow2") : qcow2_probe_fd(fd);
    int r;
    if (is_qcow2) {
        struct qcow2_open_opts o = {.read_only = true, .backing_root = q->backing_root};
        r = qcow2_open_chain(path, &o, chain, &q->backing, err);
    } else {
        r = chain_push(chain, path, &st, err);
        if (r >= 0)
            r = disk_raw_open(path, true, &q->backing, err);
    }
    if (r < 0)
        return berth_error_prefix(err, r, "%s: backing file: ", q->path);
    return 0;
}

int qcow2_open_chain(const char *path, const struct qcow2_open_opts *opts, struct qcow2_chain *chain, struct disk **ret,
                     struct berth_error *err)
{
    struct qcow2_open_opts def = {0};
    if (!opts)
        opts = &def;
    int fd = open(path, (opts->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return berth_error_errno(err, -errno, "%s", path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        close(fd);
        return berth_error_errno(err, r, "%s: stat", path);
    }
    int r = chain_push(chain, path, &st, err);
    if (r < 0) {
        close(fd);
        return r;
    }
    if (!opts->read_only) {
        /* One writer per image: two VMMs (or a VMM and `berth disk resize`) writing the same
         * metadata would corrupt it. An OFD lock on one byte far past any data; it goes away
         * with the last descriptor, so a killed writer never leaves it behind. Readers
         * (info, backing files) do not lock. */
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = QCOW2_LOCK_OFFSET, .l_len = 1};
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
            r = -errno;
            close(fd);
            if (r == -EAGAIN || r == -EACCES)
                return berth_error_set(err, -EBUSY, "%s: in use: another process has it open for writing", path);
            return berth_error_errno(err, r, "%s: lock", path);
        }
    }
    struct qcow2 *q = calloc(1, sizeof(*q));
    if (!q) {
        close(fd);
        return -ENOMEM;
    }
    q->fd = fd;
    q->read_only = opts->read_only;
    pthread_mutex_init(&q->lock, NULL);
    q->path = strdup(path);
    if (!q->path) {
        free_q(q);
        return -ENOMEM;
    }
    if (opts->backing_root) {
        q->backing_root = realpath(opts->backing_root, NULL);
        if (!q->backing_root) {
            r = berth_error_errno(err, -errno, "%s: backing root %s", path, opts->backing_root);
            goto fail;
        }
    }
    r = qcow2_header_load(q, err);
    if (r < 0)
        goto fail;
    if (!q->read_only) {
        if (q->incompatible & QCOW2_INCOMPAT_CORRUPT) {
            r = berth_error_set(err, -EUCLEAN,
                                "%s: incompatible_features: the image is marked corrupt; open it read-only", path);
            goto fail;
        }
        if (q->nb_snapshots) {
            r = berth_error_set(err, -ENOTSUP,
                                "%s: nb_snapshots: images with internal snapshots can only be opened read-only", path);
            goto fail;
        }
    }
    unsigned l2n = opts->l2_cache_tables;
    if (!l2n) {
        /* Enough tables to map 8 GiB of disk without a miss, within 4..256 tables. */
        uint64_t per_table = q->cluster_size * q->l2_entries;
        uint64_t want = (8ull << 30) / per_table;
        l2n = want < 4 ? 4 : want > 256 ? 256 : (unsigned) want;
    }
    r = qcow2_cache_init(&q->l2_cache, l2n, q->cluster_size, true);
    if (r >= 0)
        r = qcow2_cache_init(&q->rb_cache, 8, q->cluster_size, false);
    q->cbuf = malloc(2 * q->cluster_size);
    q->dbuf = malloc(q->cluster_size);
    q->cow_buf = malloc(q->cluster_size);
    q->zero_buf = calloc(1, q->cluster_size);
    if (r < 0 || !q->cbuf || !q->dbuf || !q->cow_buf || !q->zero_buf) {
        r = -ENOMEM;
        goto fail;
    }
    if (!q->read_only) {
        r = qcow2_alloc_init(q);
        if (r < 0) {
            r = berth_error_set(err, r, "%s: refcount table: refcounts describe clusters far past the end of the file",
                                path);
            goto fail;
        }
        if (q->incompatible & QCOW2_INCOMPAT_DIRTY) {
            /* Lazy refcounts were in use and the writer did not close cleanly: the spec says
             * repair refcounts from the tables before using the image, as QEMU does on open. */
            r = qcow2_rebuild_refcounts(q, err);
            if (r < 0) {
                berth_error_prefix(err, r, "%s: dirty bit set (lazy refcounts): ", path);
                goto fail;
            }
        }
        if (q->autoclear) {
            /* We keep none of the auto-clear features (bitmaps) up to date: the spec says clear them. */
            uint8_t zero[8] = {0};
            r = qcow2_pwrite(fd, zero, 8, 88);
            if (r < 0 || fdatasync(fd) < 0) {
                r = berth_error_errno(err, r < 0 ? r : -errno, "%s: clear autoclear_features", path);
                goto fail;
            }
            q->autoclear = 0;
        }
    }
    if (q->backing_name && !opts->no_backing) {
        r = qcow2_open_backing(q, chain, err);
        if (r < 0)
            goto fail;
    }
    struct disk *d = calloc(1, sizeof(*d));
    char *p = strdup(path);
    if (!d || !p) {
        free(d);
        free(p);
        r = -ENOMEM;
        goto fail;
    }
    *d = (struct disk){.ops = &qcow2_ops, .size = q->size, .read_only = q->read_only, .path = p, .priv = q};
    q->disk = d;
    *ret = d;
    return 0;
fail:
    free_q(q);
    return r;
}

int qcow2_open(const char *path, const struct qcow2_open_opts *opts, struct disk **ret, struct berth_error *err)
{
    struct qcow2_chain chain = {.depth = 0};
    return qcow2_open_chain(path, opts, &chain, ret, err);
}

void qcow2_get_info(struct disk *d, struct qcow2_info *ret)
{
    struct qcow2 *q = d->priv;
    *ret = (struct qcow2_info){
        .version = q->version,
        .size = q->size,
        .cluster_size = q->cluster_size,
        .refcount_bits = 1u << q->refcount_order,
        .incompatible = q->incompatible,
        .compatible = q->compatible,
        .autoclear = q->autoclear,
        .nb_snapshots = q->nb_snapshots,
    };
    snprintf(ret->backing, sizeof(ret->backing), "%s", q->backing_name ? q->backing_name : "");
    snprintf(ret->backing_format, sizeof(ret->backing_format), "%s", q->backing_format ? q->backing_format : "");
}

struct disk *qcow2_backing(struct disk *d)
{
    return ((struct qcow2 *) d->priv)->backing;
}
