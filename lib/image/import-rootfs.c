/* image_import_rootfs: one uncompressed tar layer written straight into the blob store, its
 * digest being its diff_id, plus a config and a manifest. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/strv.h"
#include "image/image-internal.h"
#include "image/import-internal.h"
#include "image/manifest.h"
#include "image/reference.h"

struct layer_out {
    struct blob_writer *w;
    struct berth_error *err;
    struct copy_progress progress;
    int failed;
};

static la_ssize_t out_write(struct archive *a, void *userdata, const void *buf, size_t len)
{
    struct layer_out *o = userdata;
    int r = blob_writer_write(o->w, buf, len, o->err);
    if (r < 0) {
        o->failed = r;
        archive_set_error(a, -r, "writing the layer blob failed");
        return -1;
    }
    copy_progress_update(&o->progress, "layer", len, 0);
    return (la_ssize_t) len;
}

/* Copies the data of the current entry of in (a tar or the disk) into out. */
static int copy_data(struct archive *in, struct archive *out, const char *name, struct berth_error *err)
{
    static const char zeros[65536];
    const void *buf;
    size_t size;
    la_int64_t offset, pos = 0;
    for (;;) {
        int r = archive_read_data_block(in, &buf, &size, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return berth_error_set(err, -EIO, "%s: %s", name, archive_error_string(in));
        /* Holes of sparse files are written out as zeros: the layer is a plain tar. */
        while (pos < offset) {
            size_t n = (size_t) (offset - pos) < sizeof(zeros) ? (size_t) (offset - pos) : sizeof(zeros);
            if (archive_write_data(out, zeros, n) < 0)
                return berth_error_set(err, -EIO, "%s: %s", name, archive_error_string(out));
            pos += (la_int64_t) n;
        }
        if (size && archive_write_data(out, buf, size) < 0)
            return berth_error_set(err, -EIO, "%s: %s", name, archive_error_string(out));
        pos += (la_int64_t) size;
    }
    return 0;
}

/* Entry names relative to the rootfs, without "./" (what docker and podman write). */
static int relative_name(struct archive_entry *e, const char *prefix, size_t plen)
{
    const char *p = archive_entry_pathname(e);
    if (!p)
        return -EINVAL;
    if (plen && !strncmp(p, prefix, plen))
        p += plen;
    while (*p == '/' || (p[0] == '.' && p[1] == '/'))
        p += p[0] == '/' ? 1 : 2;
    if (!*p || !strcmp(p, "."))
        return 1; /* the root itself */
    _cleanup_free_ char *copy = strdup(p);
    if (!copy)
        return -ENOMEM;
    archive_entry_set_pathname(e, copy);
    return 0;
}

static int write_from_dir(const char *path, struct archive *out, struct berth_error *err)
{
    struct archive *disk = archive_read_disk_new();
    struct archive_entry_linkresolver *lr = archive_entry_linkresolver_new();
    if (!disk || !lr) {
        archive_read_free(disk);
        archive_entry_linkresolver_free(lr);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    archive_entry_linkresolver_set_strategy(lr, archive_format(out));
    archive_read_disk_set_symlink_physical(disk);
    archive_read_disk_set_standard_lookup(disk);
    archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
    int r = 0;
    if (archive_read_disk_open(disk, path) != ARCHIVE_OK) {
        r = berth_error_set(err, -EIO, "%s: %s", path, archive_error_string(disk));
        goto out;
    }
    size_t plen = strlen(path);
    for (;;) {
        struct archive_entry *e = archive_entry_new();
        if (!e) {
            r = berth_error_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        int ar = archive_read_next_header2(disk, e);
        if (ar == ARCHIVE_EOF) {
            archive_entry_free(e);
            break;
        }
        if (ar < ARCHIVE_WARN) {
            r = berth_error_set(err, -EIO, "%s: %s", path, archive_error_string(disk));
            archive_entry_free(e);
            goto out;
        }
        archive_read_disk_descend(disk);
        if (archive_entry_filetype(e) == AE_IFSOCK) {
            archive_entry_free(e);
            continue;
        }
        int q = relative_name(e, path, plen);
        if (q != 0) {
            archive_entry_free(e);
            if (q < 0) {
                r = berth_error_set(err, q, "%s: bad entry name", path);
                goto out;
            }
            continue;
        }
        struct archive_entry *spare = NULL;
        archive_entry_linkify(lr, &e, &spare);
        if (e) {
            if (archive_write_header(out, e) < ARCHIVE_WARN) {
                r = berth_error_set(err, -EIO, "%s: %s", archive_entry_pathname(e), archive_error_string(out));
            } else if (archive_entry_size(e) > 0) {
                r = copy_data(disk, out, archive_entry_pathname(e), err);
            }
            archive_entry_free(e);
        }
        archive_entry_free(spare);
        if (r < 0)
            goto out;
    }
out:
    archive_entry_linkresolver_free(lr);
    archive_read_free(disk);
    return r;
}

static int write_from_tar(const char *path, struct archive *out, struct berth_error *err)
{
    struct archive *in = archive_read_new();
    if (!in)
        return berth_error_set(err, -ENOMEM, "out of memory");
    archive_read_support_filter_gzip(in);
    archive_read_support_filter_zstd(in);
    archive_read_support_filter_xz(in);
    archive_read_support_filter_bzip2(in);
    archive_read_support_format_tar(in);
    int r = 0;
    if (archive_read_open_filename(in, path, 1 << 20) != ARCHIVE_OK) {
        r = berth_error_set(err, -EINVAL, "%s: %s", path, archive_error_string(in));
        goto out;
    }
    struct archive_entry *e;
    for (;;) {
        int ar = archive_read_next_header(in, &e);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar < ARCHIVE_WARN) {
            r = berth_error_set(err, -EINVAL, "%s: not a tar archive: %s", path, archive_error_string(in));
            goto out;
        }
        int q = relative_name(e, NULL, 0);
        if (q < 0) {
            r = berth_error_set(err, q, "%s: bad entry name", path);
            goto out;
        }
        if (q > 0)
            continue;
        if (archive_write_header(out, e) < ARCHIVE_WARN) {
            r = berth_error_set(err, -EIO, "%s: %s", archive_entry_pathname(e), archive_error_string(out));
            goto out;
        }
        if (archive_entry_size(e) > 0 && !archive_entry_hardlink(e)) {
            r = copy_data(in, out, archive_entry_pathname(e), err);
            if (r < 0)
                goto out;
        }
    }
out:
    archive_read_free(in);
    return r;
}

static int put_json(struct image_store *is, json_t *doc, struct created_blobs *created, char **ret_digest,
                    uint64_t *ret_size, struct berth_error *err)
{
    _cleanup_free_ char *data = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    if (!data)
        return berth_error_set(err, -ENOMEM, "out of memory");
    struct blob_writer *w = NULL;
    int r = blobstore_writer_begin(image_store_blobs(is), &w, err);
    if (r < 0)
        return r;
    r = blob_writer_write(w, data, strlen(data), err);
    if (r < 0) {
        blob_writer_abort(w);
        return r;
    }
    bool fresh = false;
    r = blob_writer_commit_new(w, NULL, ret_digest, &fresh, err);
    if (r < 0)
        return r;
    if (fresh && created_blobs_add(created, *ret_digest) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    *ret_size = strlen(data);
    return 0;
}

static json_t *strv_json(char **v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static int rootfs_locked(struct image_store *is, const char *path, const struct image_rootfs_options *opts,
                         struct created_blobs *created, char **ret_digest, struct berth_error *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return berth_error_errno(err, -errno, "%s", path);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return berth_error_set(err, -EINVAL, "%s: neither a directory nor a tar file", path);

    struct layer_out lo = { .err = err };
    lo.progress.progress = opts ? opts->add.progress : NULL;
    int r = blobstore_writer_begin(image_store_blobs(is), &lo.w, err);
    if (r < 0)
        return r;
    struct archive *out = archive_write_new();
    if (!out) {
        blob_writer_abort(lo.w);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    archive_write_set_format_pax_restricted(out);
    archive_write_set_bytes_in_last_block(out, 1);
    if (archive_write_open(out, &lo, NULL, out_write, NULL) != ARCHIVE_OK) {
        r = berth_error_set(err, -EIO, "layer: %s", archive_error_string(out));
    } else {
        r = S_ISDIR(st.st_mode) ? write_from_dir(path, out, err) : write_from_tar(path, out, err);
        if (archive_write_close(out) != ARCHIVE_OK && r == 0)
            r = lo.failed ? lo.failed : berth_error_set(err, -EIO, "layer: %s", archive_error_string(out));
    }
    archive_write_free(out);
    if (r < 0) {
        blob_writer_abort(lo.w);
        return r;
    }
    uint64_t layer_size = blob_writer_size(lo.w);
    _cleanup_free_ char *layer_digest = NULL;
    bool fresh = false;
    r = blob_writer_commit_new(lo.w, NULL, &layer_digest, &fresh, err);
    if (r < 0)
        return r;
    if (fresh && created_blobs_add(created, layer_digest) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    copy_progress_update(&lo.progress, "layer", 0, 1);

    char now[64];
    time_t t = time(NULL);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    json_t *env = opts && opts->env ? strv_json(opts->env) : json_pack("[s]", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    _cleanup_json_ json_t *cfg = json_pack(
        "{s:s, s:s, s:s, s:{s:o}, s:{s:s, s:[s]}, s:[{s:s, s:s}]}", "created", now, "architecture",
        opts && opts->architecture ? opts->architecture : oci_host_architecture(), "os", "linux", "config", "Env", env,
        "rootfs", "type", "layers", "diff_ids", layer_digest, "history", "created", now, "created_by",
        "berth image import --rootfs");
    if (!cfg)
        return berth_error_set(err, -ENOMEM, "out of memory");
    json_t *inner = json_object_get(cfg, "config");
    if (opts && opts->cmd)
        json_object_set_new(inner, "Cmd", strv_json(opts->cmd));
    if (opts && opts->entrypoint)
        json_object_set_new(inner, "Entrypoint", strv_json(opts->entrypoint));
    if (opts && opts->working_dir)
        json_object_set_new(inner, "WorkingDir", json_string(opts->working_dir));
    _cleanup_free_ char *cfg_digest = NULL;
    uint64_t cfg_size = 0;
    r = put_json(is, cfg, created, &cfg_digest, &cfg_size, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *manifest = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion",
                                                2, "mediaType", MEDIA_OCI_MANIFEST, "config", "mediaType",
                                                MEDIA_OCI_CONFIG, "digest", cfg_digest, "size", (json_int_t) cfg_size,
                                                "layers", "mediaType", MEDIA_OCI_LAYER, "digest", layer_digest, "size",
                                                (json_int_t) layer_size);
    if (!manifest)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_free_ char *m_digest = NULL;
    uint64_t m_size = 0;
    r = put_json(is, manifest, created, &m_digest, &m_size, err);
    if (r < 0)
        return r;
    return image_store_add(is, m_digest, opts ? opts->name : NULL, opts ? &opts->add : NULL, ret_digest, err);
}

int image_import_rootfs(struct image_store *is, const char *path, const struct image_rootfs_options *opts,
                        char **ret_digest, struct berth_error *err)
{
    if (opts && opts->name) {
        _cleanup_image_ref_ struct image_ref *ref = NULL;
        int r = image_ref_parse(opts->name, &ref, err);
        if (r < 0)
            return r;
        if (ref->digest)
            return berth_error_set(err, -EINVAL, "cannot name an image with a digest reference '%s'", opts->name);
    }
    int r = image_store_lock_shared(is, err);
    if (r < 0)
        return r;
    struct created_blobs created = { 0 };
    r = rootfs_locked(is, path, opts, &created, ret_digest, err);
    created_blobs_sweep(is, &created);
    image_store_unlock(is);
    return r;
}
