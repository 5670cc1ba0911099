#include "image/import.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "image/image-internal.h"
#include "image/import-internal.h"
#include "image/manifest.h"
#include "image/reference.h"

#define ARCHIVE_ENTRIES_MAX 100000
#define SMALL_FILE_MAX (4u << 20)
#define COPY_CHUNK (1u << 20)

int created_blobs_add(struct created_blobs *c, const char *digest)
{
    if (ARRAY_RESERVE(c->digests, c->cap, c->n + 1, 16) < 0)
        return -ENOMEM;
    if (!(c->digests[c->n] = strdup(digest)))
        return -ENOMEM;
    c->n++;
    return 0;
}

void created_blobs_sweep(struct image_store *is, struct created_blobs *c)
{
    for (size_t i = 0; i < c->n; i++) {
        if (image_store_blob_refs(is, c->digests[i], NULL) == 0)
            blobstore_delete(image_store_blobs(is), c->digests[i], NULL);
        free(c->digests[i]);
    }
    free(c->digests);
    memset(c, 0, sizeof(*c));
}

void copy_progress_update(struct copy_progress *p, const char *what, uint64_t delta, int done)
{
    p->bytes += delta;
    if (!p->progress || (!done && p->bytes - p->last < (4u << 20)))
        return;
    p->last = p->bytes;
    struct image_progress_event ev = {
        .phase = p->phase, .what = what, .bytes = p->bytes, .item = p->item, .items = p->items, .done = done,
    };
    image_progress_report(p->progress, &ev);
}

void image_import_result_clear(struct image_import_result *r)
{
    strv_free(r->digests);
    strv_free(r->names);
    r->digests = r->names = NULL;
}

/* A file of the source: kept in memory (small JSON documents) or stored as a blob. */
struct src_file {
    char *name;
    char *digest; /* when stored as a blob */
    char *data;   /* when kept in memory */
    size_t len;
    char *link;   /* symlink or hard link: the name it stands for */
    unsigned char magic[4];
};

struct import_ctx {
    struct image_store *is;
    const struct image_import_options *opts;
    struct berth_error *err;
    const char *path;
    int dir_fd; /* OCI layout directory */
    struct created_blobs created;
    struct copy_progress progress;
    struct src_file *files;
    size_t n_files, cap_files;
    struct image_import_result res;
    char **fresh; /* images this import recorded (not there before) */
};

static void ctx_done(struct import_ctx *c)
{
    for (size_t i = 0; i < c->n_files; i++) {
        free(c->files[i].name);
        free(c->files[i].digest);
        free(c->files[i].data);
        free(c->files[i].link);
    }
    free(c->files);
    strv_free(c->fresh);
    if (c->dir_fd >= 0)
        close(c->dir_fd);
}

static bool is_small_doc(const char *name)
{
    return !strcmp(name, "index.json") || !strcmp(name, "oci-layout") || !strcmp(name, "manifest.json") ||
           !strcmp(name, "repositories");
}

/* Entry names as keys: "./a//b" -> "a/b". Nothing is written under these names. */
static char *clean_name(const char *in)
{
    char *out = malloc(strlen(in) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (const char *p = in; *p;) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t n = (size_t) (end - p);
        if (n && !(n == 1 && *p == '.')) {
            if (o)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p = end;
    }
    out[o] = '\0';
    return out;
}

static struct src_file *find_file(struct import_ctx *c, const char *name)
{
    _cleanup_free_ char *clean = clean_name(name);
    if (!clean)
        return NULL;
    /* Follow links (docker save links identical layers), a bounded number of times. */
    for (int hops = 0; hops < 8; hops++) {
        struct src_file *f = NULL;
        for (size_t i = 0; i < c->n_files; i++)
            if (!strcmp(c->files[i].name, clean))
                f = &c->files[i];
        if (!f || !f->link)
            return f;
        char *next = strdup(f->link);
        if (!next)
            return NULL;
        free(clean);
        clean = next;
    }
    return NULL;
}

static struct src_file *add_file(struct import_ctx *c, const char *name)
{
    if (ARRAY_RESERVE(c->files, c->cap_files, c->n_files + 1, 32) < 0)
        return NULL;
    struct src_file *f = &c->files[c->n_files];
    memset(f, 0, sizeof(*f));
    if (!(f->name = clean_name(name)))
        return NULL;
    c->n_files++;
    return f;
}

/* Streams one archive entry into the blob store; expected may be NULL (digest computed). */
static int store_entry(struct import_ctx *c, struct archive *a, const char *name, const char *expected,
                       struct src_file *f)
{
    struct blob_writer *w = NULL;
    int r = blobstore_writer_begin(image_store_blobs(c->is), &w, c->err);
    if (r < 0)
        return r;
    size_t got_magic = 0;
    const void *buf;
    size_t size;
    la_int64_t offset;
    for (;;) {
        int ar = archive_read_data_block(a, &buf, &size, &offset);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar < ARCHIVE_WARN) {
            blob_writer_abort(w);
            return berth_error_set(c->err, -EBADMSG, "%s: %s: %s", c->path, name, archive_error_string(a));
        }
        if ((uint64_t) offset != blob_writer_size(w)) {
            blob_writer_abort(w);
            return berth_error_set(c->err, -EBADMSG, "%s: %s: sparse entries are not blobs", c->path, name);
        }
        if (got_magic < sizeof(f->magic)) {
            size_t n = size < sizeof(f->magic) - got_magic ? size : sizeof(f->magic) - got_magic;
            memcpy(f->magic + got_magic, buf, n);
            got_magic += n;
        }
        r = blob_writer_write(w, buf, size, c->err);
        if (r < 0) {
            blob_writer_abort(w);
            return r;
        }
        copy_progress_update(&c->progress, name, size, 0);
    }
    bool created = false;
    r = blob_writer_commit_new(w, expected, &f->digest, &created, c->err);
    if (r < 0)
        return berth_error_prefix(c->err, r, "%s: %s: ", c->path, name);
    if (created && created_blobs_add(&c->created, f->digest) < 0)
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    return 0;
}

static int read_small(struct import_ctx *c, struct archive *a, const char *name, struct src_file *f)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    for (;;) {
        if (len == cap) {
            if (cap >= SMALL_FILE_MAX) {
                free(buf);
                return berth_error_set(c->err, -EFBIG, "%s: %s: larger than %u bytes", c->path, name, SMALL_FILE_MAX);
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                return berth_error_set(c->err, -ENOMEM, "out of memory");
            }
            buf = nb;
        }
        la_ssize_t n = archive_read_data(a, buf + len, cap - len);
        if (n < 0) {
            free(buf);
            return berth_error_set(c->err, -EBADMSG, "%s: %s: %s", c->path, name, archive_error_string(a));
        }
        if (n == 0)
            break;
        len += (size_t) n;
    }
    buf[len] = '\0';
    f->data = buf;
    f->len = len;
    return 0;
}

static int read_archive(struct import_ctx *c)
{
    struct archive *a = archive_read_new();
    if (!a)
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_format_tar(a);
    int r = 0;
    if (archive_read_open_filename(a, c->path, COPY_CHUNK) != ARCHIVE_OK) {
        r = berth_error_set(c->err, -EBADMSG, "%s: not an image archive (tar): %s", c->path, archive_error_string(a));
        goto out;
    }
    struct archive_entry *e;
    for (size_t count = 0;; count++) {
        int ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar < ARCHIVE_WARN) {
            r = berth_error_set(c->err, -EBADMSG, "%s: not an image archive (tar): %s", c->path, archive_error_string(a));
            goto out;
        }
        if (count >= ARCHIVE_ENTRIES_MAX) {
            r = berth_error_set(c->err, -EFBIG, "%s: more than %d entries: not an image archive", c->path,
                                ARCHIVE_ENTRIES_MAX);
            goto out;
        }
        const char *name = archive_entry_pathname(e);
        if (!name)
            continue;
        mode_t type = archive_entry_filetype(e);
        const char *hard = archive_entry_hardlink(e);
        if (type == AE_IFDIR)
            continue;
        struct src_file *f = add_file(c, name);
        if (!f) {
            r = berth_error_set(c->err, -ENOMEM, "out of memory");
            goto out;
        }
        if (hard) {
            if (!(f->link = clean_name(hard))) {
                r = berth_error_set(c->err, -ENOMEM, "out of memory");
                goto out;
            }
            continue;
        }
        if (type == AE_IFLNK) {
            /* Relative to the link's directory (docker save: "../<id>/layer.tar"). */
            const char *target = archive_entry_symlink(e);
            _cleanup_free_ char *joined = NULL;
            const char *slash = strrchr(f->name, '/');
            if (target && target[0] != '/' && slash) {
                if (asprintf(&joined, "%.*s/%s", (int) (slash - f->name), f->name, target) < 0)
                    joined = NULL;
            } else if (target) {
                joined = strdup(target);
            }
            if (!joined) {
                r = berth_error_set(c->err, -ENOMEM, "out of memory");
                goto out;
            }
            /* Resolve "dir/../x" lexically; such names are only keys into this archive. */
            char *parts[64];
            size_t np = 0;
            char *save = NULL;
            for (char *t = strtok_r(joined, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                if (!strcmp(t, "."))
                    continue;
                if (!strcmp(t, "..")) {
                    if (np)
                        np--;
                    continue;
                }
                if (np < ARRAY_SIZE(parts))
                    parts[np++] = t;
            }
            size_t len = 1;
            for (size_t i = 0; i < np; i++)
                len += strlen(parts[i]) + 1;
            if (!(f->link = calloc(1, len))) {
                r = berth_error_set(c->err, -ENOMEM, "out of memory");
                goto out;
            }
            for (size_t i = 0; i < np; i++) {
                if (i)
                    strcat(f->link, "/");
                strcat(f->link, parts[i]);
            }
            continue;
        }
        if (type != AE_IFREG)
            continue;
        c->progress.item++;
        if (is_small_doc(f->name)) {
            r = read_small(c, a, f->name, f);
        } else if (!strncmp(f->name, "blobs/", 6)) {
            const char *hex = f->name + 6;
            if (strncmp(hex, "sha256/", 7) != 0) {
                r = berth_error_set(c->err, -EPROTONOSUPPORT, "%s: %s: only sha256 blobs are supported", c->path, f->name);
                goto out;
            }
            char expected[80];
            snprintf(expected, sizeof(expected), "sha256:%s", hex + 7);
            if (!digest_is_valid(expected)) {
                r = berth_error_set(c->err, -EINVAL, "%s: %s: not a sha256 digest", c->path, f->name);
                goto out;
            }
            r = store_entry(c, a, f->name, expected, f);
        } else {
            r = store_entry(c, a, f->name, NULL, f);
        }
        if (r < 0)
            goto out;
    }
    copy_progress_update(&c->progress, c->path, 0, 1);
out:
    archive_read_free(a);
    return r;
}

/* Copies a blob from an OCI layout directory, verifying it. */
static int copy_dir_blob(struct import_ctx *c, const char *digest)
{
    int r = blobstore_has(image_store_blobs(c->is), digest, NULL);
    if (r != 0)
        return r < 0 ? berth_error_errno(c->err, r, "blob %s", digest) : 0;
    char rel[128];
    snprintf(rel, sizeof(rel), "blobs/sha256/%s", digest + 7);
    _cleanup_close_ int fd = fs_open_in_root(c->dir_fd, rel, O_RDONLY, 0, 0);
    if (fd < 0)
        return berth_error_errno(c->err, fd, "%s: %s", c->path, rel);
    struct blob_writer *w = NULL;
    r = blobstore_writer_begin(image_store_blobs(c->is), &w, c->err);
    if (r < 0)
        return r;
    _cleanup_free_ char *buf = malloc(COPY_CHUNK);
    if (!buf) {
        blob_writer_abort(w);
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    }
    for (;;) {
        ssize_t n = read(fd, buf, COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = berth_error_errno(c->err, -errno, "%s: %s", c->path, rel);
            blob_writer_abort(w);
            return r;
        }
        if (n == 0)
            break;
        r = blob_writer_write(w, buf, (size_t) n, c->err);
        if (r < 0) {
            blob_writer_abort(w);
            return r;
        }
        copy_progress_update(&c->progress, digest, (uint64_t) n, 0);
    }
    bool created = false;
    r = blob_writer_commit_new(w, digest, NULL, &created, c->err);
    if (r < 0)
        return berth_error_prefix(c->err, r, "%s: %s: ", c->path, rel);
    if (created && created_blobs_add(&c->created, digest) < 0)
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    return 0;
}

/* For a directory source: copies the manifest (or index, then the platform's manifest), config
 * and layers reachable from digest. */
static int copy_closure(struct import_ctx *c, const char *digest, int depth)
{
    int r = copy_dir_blob(c, digest);
    if (r < 0)
        return r;
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    r = blobstore_read(image_store_blobs(c->is), digest, OCI_MANIFEST_MAX, &data, &len, c->err);
    if (r < 0)
        return r;
    enum oci_kind kind;
    r = oci_document_kind(data, len, digest, &kind, c->err);
    if (r < 0)
        return r;
    if (kind == OCI_KIND_INDEX) {
        if (depth > 0)
            return berth_error_set(c->err, -EPROTONOSUPPORT, "%s: nested indexes are not supported", digest);
        _cleanup_(oci_index_freep) struct oci_index *idx = NULL;
        r = oci_index_parse(data, len, digest, &idx, c->err);
        if (r < 0)
            return r;
        const struct oci_descriptor *d = NULL;
        r = oci_index_select(idx, c->opts ? c->opts->add.os : NULL, c->opts ? c->opts->add.architecture : NULL, &d,
                             c->err);
        if (r < 0)
            return berth_error_prefix(c->err, r, "%s: ", digest);
        return copy_closure(c, d->digest, depth + 1);
    }
    _cleanup_(oci_manifest_freep) struct oci_manifest *m = NULL;
    r = oci_manifest_parse(data, len, digest, &m, c->err);
    if (r < 0)
        return r;
    c->progress.items = (unsigned) m->n_layers + 1;
    c->progress.item = 1;
    r = copy_dir_blob(c, m->config.digest);
    for (size_t i = 0; i < m->n_layers && r >= 0; i++) {
        c->progress.item = (unsigned) i + 2;
        r = copy_dir_blob(c, m->layers[i].digest);
    }
    return r;
}

static int result_push(struct import_ctx *c, const char *digest, const char *name)
{
    if (digest && strv_push(&c->res.digests, digest) < 0)
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    if (name && strv_push(&c->res.names, name) < 0)
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    return 0;
}

/* The full name for an image: opts->name (taking the source's tag when it gives none), else a
 * ref name from the source when it is a full reference (a bare tag like "latest" names nothing). */
static int choose_name(struct import_ctx *c, const char *source_name, char **ret)
{
    *ret = NULL;
    const char *user = c->opts ? c->opts->name : NULL;
    if (user) {
        _cleanup_image_ref_ struct image_ref *ref = NULL;
        int r = image_ref_parse(user, &ref, c->err);
        if (r < 0)
            return r;
        if (ref->digest)
            return berth_error_set(c->err, -EINVAL, "cannot name an import with a digest reference '%s'", user);
        bool explicit_tag = strchr(strrchr(user, '/') ? strrchr(user, '/') : user, ':') != NULL;
        if (!explicit_tag && source_name && image_tag_is_valid(source_name)) {
            free(ref->tag);
            if (!(ref->tag = strdup(source_name)))
                return berth_error_set(c->err, -ENOMEM, "out of memory");
        }
        *ret = image_ref_tagged(ref);
        return *ret ? 0 : berth_error_set(c->err, -ENOMEM, "out of memory");
    }
    if (!source_name || (!strchr(source_name, ':') && !strchr(source_name, '/')))
        return 0;
    _cleanup_image_ref_ struct image_ref *ref = NULL;
    if (image_ref_parse(source_name, &ref, NULL) < 0 || !ref->tag)
        return 0; /* an odd annotation is not worth failing the import for */
    *ret = image_ref_tagged(ref);
    return *ret ? 0 : berth_error_set(c->err, -ENOMEM, "out of memory");
}

static int add_image(struct import_ctx *c, const char *digest, const char *name)
{
    _cleanup_free_ char *recorded = NULL;
    bool fresh = false;
    int r = image_store_add_ex(c->is, digest, name, c->opts ? &c->opts->add : NULL, &recorded, &fresh, c->err);
    if (r < 0)
        return r;
    if (fresh && strv_push(&c->fresh, recorded) < 0)
        return berth_error_set(c->err, -ENOMEM, "out of memory");
    return result_push(c, recorded, name);
}

static int import_oci(struct import_ctx *c, const char *index_data, size_t index_len, bool from_dir)
{
    _cleanup_(oci_index_freep) struct oci_index *idx = NULL;
    int r = oci_index_parse(index_data, index_len, "index.json", &idx, c->err);
    if (r < 0)
        return berth_error_prefix(c->err, r, "%s: ", c->path);
    /* Entries for other platforms are skipped when the index says which platform they are. */
    const char *arch = c->opts && c->opts->add.architecture ? c->opts->add.architecture : oci_host_architecture();
    size_t wanted = 0;
    for (size_t i = 0; i < idx->n_manifests; i++) {
        const struct oci_descriptor *d = &idx->manifests[i];
        if (!oci_media_is_manifest(d->media_type) && !oci_media_is_index(d->media_type))
            continue;
        if (d->architecture && strcmp(d->architecture, arch))
            continue;
        wanted++;
    }
    if (wanted == 0)
        return berth_error_set(c->err, -ENOENT, "%s: index.json lists no image for linux/%s", c->path, arch);
    if (c->opts && c->opts->name && wanted > 1) {
        /* The same image under several names is still one image. */
        for (size_t i = 1; i < idx->n_manifests; i++)
            if (strcmp(idx->manifests[i].digest, idx->manifests[0].digest))
                return berth_error_set(c->err, -EINVAL, "%s: holds %zu images: a name can be given to one only",
                                       c->path, wanted);
    }
    for (size_t i = 0; i < idx->n_manifests; i++) {
        const struct oci_descriptor *d = &idx->manifests[i];
        if (!oci_media_is_manifest(d->media_type) && !oci_media_is_index(d->media_type))
            continue;
        if (d->architecture && strcmp(d->architecture, arch))
            continue;
        if (from_dir) {
            r = copy_closure(c, d->digest, 0);
            if (r < 0)
                return r;
        }
        uint64_t size = 0;
        r = blobstore_has(image_store_blobs(c->is), d->digest, &size);
        if (r == 0)
            return berth_error_set(c->err, -ENOENT, "%s: manifest %s is missing from the archive", c->path, d->digest);
        if (r > 0 && size != d->size)
            return berth_error_set(c->err, -EBADMSG, "%s: manifest %s: index.json says %llu bytes, it has %llu",
                                   c->path, d->digest, (unsigned long long) d->size, (unsigned long long) size);
        _cleanup_free_ char *name = NULL;
        r = choose_name(c, d->ref_name, &name);
        /* docker save (>= 25) puts only the tag in ref.name and the full name here. */
        if (r == 0 && !name && !(c->opts && c->opts->name) && d->image_name)
            r = choose_name(c, d->image_name, &name);
        if (r < 0)
            return r;
        r = add_image(c, d->digest, name);
        if (r < 0)
            return r;
    }
    return 0;
}

static const char *layer_media_type(const struct src_file *f)
{
    if (f->magic[0] == 0x1f && f->magic[1] == 0x8b)
        return MEDIA_OCI_LAYER_GZIP;
    if (f->magic[0] == 0x28 && f->magic[1] == 0xb5 && f->magic[2] == 0x2f && f->magic[3] == 0xfd)
        return MEDIA_OCI_LAYER_ZSTD;
    return MEDIA_OCI_LAYER;
}

static int descriptor_json(struct import_ctx *c, const char *media_type, const struct src_file *f, json_t **ret)
{
    uint64_t size = 0;
    int r = blobstore_has(image_store_blobs(c->is), f->digest, &size);
    if (r <= 0)
        return berth_error_set(c->err, -EIO, "%s: %s: blob vanished", c->path, f->name);
    *ret = json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", f->digest, "size", (json_int_t) size);
    return *ret ? 0 : berth_error_set(c->err, -ENOMEM, "out of memory");
}

static int import_docker(struct import_ctx *c, const struct src_file *mf)
{
    _cleanup_json_ json_t *doc = NULL;
    int r = json_load_buffer(mf->data, mf->len, "manifest.json", &doc, c->err);
    if (r < 0)
        return berth_error_prefix(c->err, r, "%s: ", c->path);
    if (!json_is_array(doc) || json_array_size(doc) == 0)
        return berth_error_set(c->err, -EINVAL, "%s: manifest.json: must be a non-empty array", c->path);
    if (c->opts && c->opts->name && json_array_size(doc) > 1)
        return berth_error_set(c->err, -EINVAL, "%s: holds %zu images: a name can be given to one only", c->path,
                               json_array_size(doc));
    size_t i;
    json_t *entry;
    json_array_foreach(doc, i, entry) {
        char what[64];
        snprintf(what, sizeof(what), "manifest.json[%zu]", i);
        const char *config = NULL;
        json_t *layers = NULL, *tags = NULL;
        r = json_opt_string(entry, "Config", what, &config, c->err);
        if (r == 0)
            r = json_opt_array(entry, "Layers", what, &layers, c->err);
        if (r == 0)
            r = json_opt_array(entry, "RepoTags", what, &tags, c->err);
        if (r < 0)
            return berth_error_prefix(c->err, r, "%s: ", c->path);
        if (!config || !layers)
            return berth_error_set(c->err, -EINVAL, "%s: %s: Config and Layers are required", c->path, what);
        if (json_array_size(layers) > OCI_LAYERS_MAX)
            return berth_error_set(c->err, -E2BIG, "%s: %s: more than %d layers", c->path, what, OCI_LAYERS_MAX);
        struct src_file *cf = find_file(c, config);
        if (!cf || !cf->digest)
            return berth_error_set(c->err, -ENOENT, "%s: %s: config '%s' is missing from the archive", c->path, what,
                                   config);
        _cleanup_json_ json_t *manifest = json_pack("{s:i, s:s}", "schemaVersion", 2, "mediaType", MEDIA_OCI_MANIFEST);
        json_t *cdesc = NULL, *ldescs = json_array();
        if (!manifest || !ldescs)
            return berth_error_set(c->err, -ENOMEM, "out of memory");
        json_object_set_new(manifest, "layers", ldescs);
        r = descriptor_json(c, MEDIA_OCI_CONFIG, cf, &cdesc);
        if (r < 0)
            return r;
        json_object_set_new(manifest, "config", cdesc);
        size_t j;
        json_t *l;
        json_array_foreach(layers, j, l) {
            const char *lname = json_string_value(l);
            struct src_file *lf = lname ? find_file(c, lname) : NULL;
            if (!lf || !lf->digest)
                return berth_error_set(c->err, -ENOENT, "%s: %s: layer '%s' is missing from the archive", c->path, what,
                                       lname ? lname : "(not a string)");
            json_t *ld = NULL;
            r = descriptor_json(c, layer_media_type(lf), lf, &ld);
            if (r < 0)
                return r;
            json_array_append_new(ldescs, ld);
        }
        _cleanup_free_ char *mdata = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS);
        if (!mdata)
            return berth_error_set(c->err, -ENOMEM, "out of memory");
        _cleanup_free_ char *mdigest = NULL;
        struct blob_writer *w = NULL;
        r = blobstore_writer_begin(image_store_blobs(c->is), &w, c->err);
        if (r < 0)
            return r;
        r = blob_writer_write(w, mdata, strlen(mdata), c->err);
        if (r < 0) {
            blob_writer_abort(w);
            return r;
        }
        bool created = false;
        r = blob_writer_commit_new(w, NULL, &mdigest, &created, c->err);
        if (r < 0)
            return r;
        if (created && created_blobs_add(&c->created, mdigest) < 0)
            return berth_error_set(c->err, -ENOMEM, "out of memory");
        /* The first tag names the image while adding; the others are added afterwards. */
        size_t n_tags = tags ? json_array_size(tags) : 0;
        _cleanup_free_ char *first = NULL;
        const char *t0 = n_tags ? json_string_value(json_array_get(tags, 0)) : NULL;
        if (c->opts && c->opts->name) {
            r = choose_name(c, NULL, &first);
            if (r < 0)
                return r;
            n_tags = 0;
        } else if (t0) {
            _cleanup_image_ref_ struct image_ref *ref = NULL;
            if (image_ref_parse(t0, &ref, c->err) < 0)
                return berth_error_prefix(c->err, -EINVAL, "%s: %s: RepoTags: ", c->path, what);
            first = image_ref_tagged(ref);
        }
        r = add_image(c, mdigest, first);
        if (r < 0)
            return r;
        for (size_t k = 1; k < n_tags; k++) {
            const char *t = json_string_value(json_array_get(tags, k));
            if (!t)
                continue;
            r = image_tag(c->is, mdigest, t, c->err);
            if (r < 0)
                return berth_error_prefix(c->err, r, "%s: %s: RepoTags: ", c->path, what);
            _cleanup_image_ref_ struct image_ref *ref = NULL;
            if (image_ref_parse(t, &ref, NULL) == 0) {
                _cleanup_free_ char *full = image_ref_tagged(ref);
                if (full && result_push(c, NULL, full) < 0)
                    return -ENOMEM;
            }
        }
    }
    return 0;
}

static int import_locked(struct import_ctx *c)
{
    struct stat st;
    if (stat(c->path, &st) < 0)
        return berth_error_errno(c->err, -errno, "%s", c->path);
    enum image_archive_format fmt = c->opts ? c->opts->format : IMAGE_FORMAT_AUTO;
    if (S_ISDIR(st.st_mode)) {
        if (fmt != IMAGE_FORMAT_AUTO && fmt != IMAGE_FORMAT_OCI_DIR)
            return berth_error_set(c->err, -EINVAL, "%s: is a directory, expected an archive", c->path);
        c->dir_fd = open(c->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (c->dir_fd < 0)
            return berth_error_errno(c->err, -errno, "%s", c->path);
        _cleanup_close_ int lfd = fs_open_in_root(c->dir_fd, "oci-layout", O_RDONLY, 0, 0);
        if (lfd < 0)
            return berth_error_set(c->err, -EINVAL, "%s: not an OCI image layout (no oci-layout file)", c->path);
        _cleanup_close_ int ifd = fs_open_in_root(c->dir_fd, "index.json", O_RDONLY, 0, 0);
        if (ifd < 0)
            return berth_error_errno(c->err, ifd, "%s: index.json", c->path);
        _cleanup_free_ char *proc = NULL, *data = NULL;
        size_t len = 0;
        if (asprintf(&proc, "/proc/self/fd/%d", ifd) < 0)
            return berth_error_set(c->err, -ENOMEM, "out of memory");
        int r = fs_read_file(proc, OCI_MANIFEST_MAX, &data, &len, c->err);
        if (r < 0)
            return berth_error_prefix(c->err, r, "%s: index.json: ", c->path);
        return import_oci(c, data, len, true);
    }
    if (!S_ISREG(st.st_mode))
        return berth_error_set(c->err, -EINVAL, "%s: neither a file nor a directory", c->path);
    if (fmt == IMAGE_FORMAT_OCI_DIR)
        return berth_error_set(c->err, -EINVAL, "%s: is a file, expected an OCI layout directory", c->path);
    int r = read_archive(c);
    if (r < 0)
        return r;
    struct src_file *index = find_file(c, "index.json");
    struct src_file *docker = find_file(c, "manifest.json");
    if (index && !index->data)
        index = NULL;
    if (docker && !docker->data)
        docker = NULL;
    if (fmt == IMAGE_FORMAT_DOCKER_ARCHIVE || (fmt == IMAGE_FORMAT_AUTO && docker && !index)) {
        if (!docker)
            return berth_error_set(c->err, -EINVAL, "%s: not a docker archive (no manifest.json)", c->path);
        return import_docker(c, docker);
    }
    if (!index)
        return berth_error_set(c->err, -EINVAL, "%s: not an image archive: neither index.json (OCI) nor manifest.json "
                               "(docker save)", c->path);
    struct src_file *layout = find_file(c, "oci-layout");
    if (!layout && !docker)
        return berth_error_set(c->err, -EINVAL, "%s: not an OCI archive (no oci-layout file)", c->path);
    return import_oci(c, index->data, index->len, false);
}

int image_import(struct image_store *is, const char *path, const struct image_import_options *opts,
                 struct image_import_result *ret, struct berth_error *err)
{
    struct import_ctx c = { .is = is, .opts = opts, .err = err, .path = path, .dir_fd = -1 };
    c.progress.progress = opts ? opts->add.progress : NULL;
    int r = image_store_lock_shared(is, err);
    if (r < 0)
        return r;
    r = import_locked(&c);
    if (r < 0) {
        /* Images recorded before the failure go too: an import is all or nothing. */
        for (size_t i = 0; c.fresh && c.fresh[i]; i++)
            image_db_exec1(is, "DELETE FROM images WHERE digest = ?", c.fresh[i], NULL, NULL);
        image_import_result_clear(&c.res);
    }
    created_blobs_sweep(is, &c.created);
    image_store_unlock(is);
    ctx_done(&c);
    if (r < 0)
        return r;
    if (ret)
        *ret = c.res;
    else
        image_import_result_clear(&c.res);
    return 0;
}
