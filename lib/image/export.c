/* image_export: an OCI archive (tar of an OCI image layout) of images from the store. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/strv.h"
#include "image/image-internal.h"
#include "image/import-internal.h"
#include "image/import.h"
#include "image/manifest.h"

#define EXPORT_CHUNK (1u << 20)

struct export_ctx {
    struct image_store *is;
    struct archive *out;
    struct berth_error *err;
    struct copy_progress progress;
    char **written; /* blobs already in the archive (shared layers go in once) */
};

static int add_entry(struct export_ctx *c, const char *name, mode_t type, uint64_t size)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(e, (la_int64_t) size);
    /* Fixed metadata: the same images export to the same bytes. */
    archive_entry_set_mtime(e, 0, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    int r = archive_write_header(c->out, e) < ARCHIVE_WARN
                ? berth_error_set(c->err, -EIO, "%s: %s", name, archive_error_string(c->out))
                : 0;
    archive_entry_free(e);
    return r;
}

static int add_data(struct export_ctx *c, const char *name, const void *data, size_t len)
{
    int r = add_entry(c, name, AE_IFREG, len);
    if (r < 0)
        return r;
    if (len && archive_write_data(c->out, data, len) < 0)
        return berth_error_set(c->err, -EIO, "%s: %s", name, archive_error_string(c->out));
    return 0;
}

static int add_blob(struct export_ctx *c, const char *digest)
{
    for (size_t i = 0; c->written && c->written[i]; i++)
        if (!strcmp(c->written[i], digest))
            return 0;
    _cleanup_close_ int fd = -1;
    uint64_t size = 0;
    int r = blobstore_open_blob(image_store_blobs(c->is), digest, &fd, &size, c->err);
    if (r < 0)
        return r;
    char name[96];
    snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
    r = add_entry(c, name, AE_IFREG, size);
    if (r < 0)
        return r;
    _cleanup_free_ char *buf = malloc(EXPORT_CHUNK);
    if (!buf)
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    uint64_t left = size;
    while (left > 0) {
        ssize_t n = read(fd, buf, left < EXPORT_CHUNK ? left : EXPORT_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return berth_error_set(c->err, n < 0 ? -errno : -EIO, "blob %s: short read", digest);
        if (archive_write_data(c->out, buf, (size_t) n) < 0)
            return berth_error_set(c->err, -EIO, "%s: %s", name, archive_error_string(c->out));
        left -= (uint64_t) n;
        copy_progress_update(&c->progress, digest, (uint64_t) n, 0);
    }
    if (strv_push(&c->written, digest) < 0)
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    return 0;
}

static int export_image(struct export_ctx *c, const struct image *img, const char *name, json_t *manifests)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = image_get_manifest(c->is, img, &data, &len, c->err);
    if (r < 0)
        return r;
    c->progress.item++;
    r = add_blob(c, img->digest);
    if (r == 0)
        r = add_blob(c, img->config_digest);
    for (size_t i = 0; i < img->n_layers && r == 0; i++)
        r = add_blob(c, img->layers[i].digest);
    if (r < 0)
        return r;
    /* One entry per image: podman load reads exactly one image from an OCI archive. */
    json_t *d = json_pack("{s:s, s:s, s:I, s:{s:s, s:s}}", "mediaType", img->media_type, "digest", img->digest, "size",
                          (json_int_t) len, "platform", "architecture",
                          img->architecture ? img->architecture : oci_host_architecture(), "os",
                          img->os ? img->os : "linux");
    if (!d)
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    if (name)
        json_object_set_new(d, "annotations", json_pack("{s:s}", ANNOTATION_REF_NAME, name));
    json_array_append_new(manifests, d);
    return 0;
}

static int export_to(struct export_ctx *c, struct image **imgs, char **names, size_t n, int fd)
{
    c->out = archive_write_new();
    if (!c->out)
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    archive_write_set_format_pax_restricted(c->out);
    archive_write_set_bytes_in_last_block(c->out, 1);
    int r = 0;
    /* before the first goto: a jump past a cleanup variable's initialisation would free garbage */
    _cleanup_json_ json_t *index = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", MEDIA_OCI_INDEX,
                                             "manifests");
    if (archive_write_open_fd(c->out, fd) != ARCHIVE_OK) {
        r = berth_error_set(c->err, -EIO, "%s", archive_error_string(c->out));
        goto out;
    }
    if (!index) {
        r = berth_error_set(c->err, -ENOMEM, "out of memory");
        goto out;
    }
    static const char layout[] = "{\"imageLayoutVersion\":\"" MEDIA_OCI_LAYOUT_VERSION "\"}";
    r = add_data(c, "oci-layout", layout, strlen(layout));
    if (r == 0)
        r = add_entry(c, "blobs", AE_IFDIR, 0);
    if (r == 0)
        r = add_entry(c, "blobs/sha256", AE_IFDIR, 0);
    for (size_t i = 0; i < n && r == 0; i++)
        if (imgs[i])
            r = export_image(c, imgs[i], names[i], json_object_get(index, "manifests"));
    if (r == 0) {
        _cleanup_free_ char *s = json_dumps(index, JSON_COMPACT);
        r = s ? add_data(c, "index.json", s, strlen(s)) : berth_error_set(c->err, -ENOMEM, "out of memory");
    }
    if (archive_write_close(c->out) != ARCHIVE_OK && r == 0)
        r = berth_error_set(c->err, -EIO, "%s", archive_error_string(c->out));
out:
    archive_write_free(c->out);
    c->out = NULL;
    return r;
}

int image_export(struct image_store *is, char *const *whats, size_t n, const char *path,
                 const struct image_progress *progress, struct berth_error *err)
{
    if (n == 0)
        return berth_error_set(err, -EINVAL, "no image to export");
    struct image **imgs = calloc(n, sizeof(*imgs));
    if (!imgs)
        return berth_error_set(err, -ENOMEM, "out of memory");
    char **names = calloc(n, sizeof(char *));
    _cleanup_free_ char *tmp = NULL;
    struct export_ctx c = { .is = is, .err = err };
    c.progress.progress = progress;
    c.progress.phase = IMAGE_PROGRESS_EXPORT;
    c.progress.items = (unsigned) n;
    int r = 0;
    if (!names) {
        r = berth_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        r = image_lookup(is, whats[i], &imgs[i], err);
        if (r < 0)
            break;
        /* The name used on the command line when it is one of the image's tags, else its first. */
        names[i] = image_tag_named(imgs[i], whats[i]);
        if (!names[i] && imgs[i]->names[0])
            names[i] = strdup(imgs[i]->names[0]);
        for (size_t k = 0; k < i; k++)
            if (imgs[k] && !strcmp(imgs[k]->digest, imgs[i]->digest)) {
                image_free(imgs[i]);
                imgs[i] = NULL;
                break;
            }
    }
    if (r < 0)
        goto out;
    if (!strcmp(path, "-")) {
        if (isatty(STDOUT_FILENO)) {
            r = berth_error_set(err, -EINVAL, "refusing to write an archive to a terminal: use -o FILE or a pipe");
            goto out;
        }
        r = export_to(&c, imgs, names, n, STDOUT_FILENO);
        goto out;
    }
    if (asprintf(&tmp, "%s.tmp.%d", path, (int) getpid()) < 0) {
        tmp = NULL;
        r = berth_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        r = berth_error_errno(err, -errno, "%s", tmp);
        goto out;
    }
    r = export_to(&c, imgs, names, n, fd);
    if (r == 0 && fsync(fd) < 0)
        r = berth_error_errno(err, -errno, "%s", tmp);
    close(fd);
    if (r == 0 && rename(tmp, path) < 0)
        r = berth_error_errno(err, -errno, "%s", path);
    if (r < 0)
        unlink(tmp);
    else
        copy_progress_update(&c.progress, path, 0, 1);
out:
    for (size_t i = 0; i < n; i++) {
        image_free(imgs[i]);
        if (names)
            free(names[i]);
    }
    free(imgs);
    free(names);
    strv_free(c.written);
    return r;
}
