#include "image/blobstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

struct blobstore {
    char *root;
    char *blobs_dir;    /* <root>/blobs/sha256 */
    char *staging_dir;  /* <root>/blobs/.staging */
};

struct blob_writer {
    struct blobstore *bs;
    EVP_MD_CTX *md;
    int fd;
    char *tmp_path;
    uint64_t size;
};

bool digest_is_valid(const char *digest)
{
    if (!digest || strncmp(digest, "sha256:", 7) != 0)
        return false;
    const char *hex = digest + 7;
    size_t n = 0;
    for (; hex[n]; n++)
        if (!((hex[n] >= '0' && hex[n] <= '9') || (hex[n] >= 'a' && hex[n] <= 'f')))
            return false;
    return n == 64;
}

static void hex_digest(const unsigned char *md, unsigned int len, char out[72])
{
    static const char hexchars[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (unsigned int i = 0; i < len && i < 32; i++) {
        out[7 + 2 * i] = hexchars[md[i] >> 4];
        out[8 + 2 * i] = hexchars[md[i] & 15];
    }
    out[71] = '\0';
}

void digest_of_buffer(const void *data, size_t len, char out[72])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    hex_digest(md, mdlen, out);
}

int blobstore_open(const char *root, struct blobstore **ret, struct berth_error *err)
{
    _cleanup_free_ struct blobstore *bs = calloc(1, sizeof(*bs));
    if (!bs)
        return berth_error_set(err, -ENOMEM, "out of memory");
    bs->root = strdup(root);
    bs->blobs_dir = fs_path_join(root, "blobs/sha256");
    bs->staging_dir = fs_path_join(root, "blobs/.staging");
    if (!bs->root || !bs->blobs_dir || !bs->staging_dir) {
        blobstore_free(TAKE_PTR(bs));
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    int r = fs_mkdir_p(bs->blobs_dir, 0755);
    if (r == 0)
        r = fs_mkdir_p(bs->staging_dir, 0700);
    if (r < 0) {
        int q = berth_error_errno(err, r, "%s: cannot create the blob store", root);
        blobstore_free(TAKE_PTR(bs));
        return q;
    }
    *ret = TAKE_PTR(bs);
    return 0;
}

void blobstore_free(struct blobstore *bs)
{
    if (!bs)
        return;
    free(bs->root);
    free(bs->blobs_dir);
    free(bs->staging_dir);
    free(bs);
}

int blobstore_path(struct blobstore *bs, const char *digest, char **ret_path, struct berth_error *err)
{
    if (!digest_is_valid(digest))
        return berth_error_set(err, -EINVAL, "'%s' is not a valid sha256 digest", digest ? digest : "(null)");
    char *p = fs_path_join(bs->blobs_dir, digest + 7);
    if (!p)
        return berth_error_set(err, -ENOMEM, "out of memory");
    *ret_path = p;
    return 0;
}

int blobstore_has(struct blobstore *bs, const char *digest, uint64_t *ret_size)
{
    _cleanup_free_ char *path = NULL;
    int r = blobstore_path(bs, digest, &path, NULL);
    if (r < 0)
        return r;
    struct stat st;
    if (stat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (ret_size)
        *ret_size = (uint64_t) st.st_size;
    return 1;
}

int blobstore_open_blob(struct blobstore *bs, const char *digest, int *ret_fd, uint64_t *ret_size,
                        struct berth_error *err)
{
    _cleanup_free_ char *path = NULL;
    int r = blobstore_path(bs, digest, &path, err);
    if (r < 0)
        return r;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return berth_error_errno(err, -errno, "blob %s", digest);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        close(fd);
        return berth_error_errno(err, r, "blob %s", digest);
    }
    if (ret_size)
        *ret_size = (uint64_t) st.st_size;
    *ret_fd = fd;
    return 0;
}

int blobstore_read(struct blobstore *bs, const char *digest, size_t max, char **ret_data, size_t *ret_len,
                   struct berth_error *err)
{
    _cleanup_free_ char *path = NULL;
    int r = blobstore_path(bs, digest, &path, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    r = fs_read_file(path, max, &data, &len, err);
    if (r < 0)
        return r;
    char actual[72];
    digest_of_buffer(data, len, actual);
    if (strcmp(actual, digest) != 0)
        return berth_error_set(err, -EBADMSG, "blob %s is corrupt: its content hashes to %s", digest, actual);
    if (ret_len)
        *ret_len = len;
    *ret_data = TAKE_PTR(data);
    return 0;
}

int blobstore_writer_begin(struct blobstore *bs, struct blob_writer **ret, struct berth_error *err)
{
    struct blob_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return berth_error_set(err, -ENOMEM, "out of memory");
    w->bs = bs;
    w->fd = -1;
    if (asprintf(&w->tmp_path, "%s/upload-XXXXXX", bs->staging_dir) < 0) {
        free(w);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
    if (w->fd < 0) {
        int r = berth_error_errno(err, -errno, "%s: cannot create a staging file", bs->staging_dir);
        free(w->tmp_path);
        free(w);
        return r;
    }
    w->md = EVP_MD_CTX_new();
    if (!w->md || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
        blob_writer_abort(w);
        return berth_error_set(err, -ENOMEM, "cannot initialise sha256");
    }
    *ret = w;
    return 0;
}

static bool staging_name_is_valid(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++)
        if (!((name[n] >= 'a' && name[n] <= 'z') || (name[n] >= 'A' && name[n] <= 'Z') ||
              (name[n] >= '0' && name[n] <= '9') || name[n] == '-' || name[n] == '_'))
            return false;
    return n > 0 && n <= 128;
}

/* A writer on the named staging file opened with flags; *ret_path gets its path. */
static int writer_open_named(struct blobstore *bs, const char *name, int flags, struct blob_writer **ret,
                             struct berth_error *err)
{
    if (!staging_name_is_valid(name))
        return berth_error_set(err, -EINVAL, "'%s' is not a valid staging file name", name);
    _cleanup_free_ struct blob_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return berth_error_set(err, -ENOMEM, "out of memory");
    w->bs = bs;
    w->tmp_path = fs_path_join(bs->staging_dir, name);
    if (!w->tmp_path)
        return berth_error_set(err, -ENOMEM, "out of memory");
    w->fd = open(w->tmp_path, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (w->fd < 0) {
        int r = berth_error_errno(err, -errno, "%s: cannot open the staging file", w->tmp_path);
        free(w->tmp_path);
        return r;
    }
    w->md = EVP_MD_CTX_new();
    if (!w->md || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
        blob_writer_close(TAKE_PTR(w));
        return berth_error_set(err, -ENOMEM, "cannot initialise sha256");
    }
    *ret = TAKE_PTR(w);
    return 0;
}

int blobstore_writer_begin_named(struct blobstore *bs, const char *name, struct blob_writer **ret,
                                 struct berth_error *err)
{
    return writer_open_named(bs, name, O_WRONLY | O_CREAT | O_EXCL, ret, err);
}

int blobstore_writer_resume(struct blobstore *bs, const char *name, struct blob_writer **ret, struct berth_error *err)
{
    struct blob_writer *w = NULL;
    int r = writer_open_named(bs, name, O_RDWR, &w, err);
    if (r < 0)
        return r;
    /* The hash state is not kept across processes: rebuild it from what the file holds. Reading
     * to the end also leaves the offset where the next write appends. */
    _cleanup_free_ char *buf = malloc(1 << 20);
    if (!buf) {
        blob_writer_close(w);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    for (;;) {
        ssize_t n = read(w->fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = berth_error_errno(err, -errno, "%s: reading the staging file", w->tmp_path);
            blob_writer_close(w);
            return r;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(w->md, buf, (size_t) n);
        w->size += (uint64_t) n;
    }
    *ret = w;
    return 0;
}

void blob_writer_close(struct blob_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w->tmp_path);
    EVP_MD_CTX_free(w->md);
    free(w);
}

void blob_writer_touch(struct blob_writer *w)
{
    (void) futimens(w->fd, NULL);
}

int blobstore_staging_stat(struct blobstore *bs, const char *name, uint64_t *ret_size, time_t *ret_mtime)
{
    if (!staging_name_is_valid(name))
        return -EINVAL;
    _cleanup_free_ char *path = fs_path_join(bs->staging_dir, name);
    if (!path)
        return -ENOMEM;
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    if (ret_size)
        *ret_size = (uint64_t) st.st_size;
    if (ret_mtime)
        *ret_mtime = st.st_mtime;
    return 1;
}

int blobstore_staging_remove(struct blobstore *bs, const char *name)
{
    if (!staging_name_is_valid(name))
        return -EINVAL;
    _cleanup_free_ char *path = fs_path_join(bs->staging_dir, name);
    if (!path)
        return -ENOMEM;
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct berth_error *err)
{
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(w->fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return berth_error_errno(err, -errno, "writing blob");
        }
        p += n;
        left -= (size_t) n;
    }
    EVP_DigestUpdate(w->md, data, len);
    w->size += len;
    return 0;
}

uint64_t blob_writer_size(const struct blob_writer *w)
{
    return w->size;
}

void blob_writer_abort(struct blob_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp_path) {
        unlink(w->tmp_path);
        free(w->tmp_path);
    }
    EVP_MD_CTX_free(w->md);
    free(w);
}

int blob_writer_commit(struct blob_writer *w, const char *expected_digest, char **ret_digest,
                       struct berth_error *err)
{
    return blob_writer_commit_new(w, expected_digest, ret_digest, NULL, err);
}

int blob_writer_commit_new(struct blob_writer *w, const char *expected_digest, char **ret_digest, bool *ret_created,
                           struct berth_error *err)
{
    bool created = true;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char actual[72];
    char *final_path = NULL;
    int r = 0;
    if (expected_digest && !digest_is_valid(expected_digest)) {
        r = berth_error_set(err, -EINVAL, "'%s' is not a valid sha256 digest", expected_digest);
        goto out;
    }
    EVP_DigestFinal_ex(w->md, md, &mdlen);
    hex_digest(md, mdlen, actual);
    if (expected_digest && strcmp(actual, expected_digest) != 0) {
        r = berth_error_set(err, -EBADMSG, "digest mismatch: expected %s, content hashes to %s", expected_digest, actual);
        goto out;
    }
    if (fsync(w->fd) < 0) {
        r = berth_error_errno(err, -errno, "fsync of blob %s", actual);
        goto out;
    }
    final_path = fs_path_join(w->bs->blobs_dir, actual + 7);
    if (!final_path) {
        r = berth_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    if (fchmod(w->fd, 0644) < 0) {
        r = berth_error_errno(err, -errno, "publishing blob %s", actual);
        goto out;
    }
    /* NOREPLACE: an existing blob (same content by construction) stays as it is, so that readers
     * and the caller's bookkeeping of which blobs it created both stay right. */
    if (renameat2(AT_FDCWD, w->tmp_path, AT_FDCWD, final_path, RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST) {
            created = false;
        } else if (errno == EINVAL || errno == ENOSYS) {
            if (rename(w->tmp_path, final_path) < 0) {
                r = berth_error_errno(err, -errno, "publishing blob %s", actual);
                goto out;
            }
        } else {
            r = berth_error_errno(err, -errno, "publishing blob %s", actual);
            goto out;
        }
    }
    if (!created) {
        /* blob_writer_abort unlinks tmp_path. */
        if (ret_created)
            *ret_created = false;
        if (ret_digest) {
            *ret_digest = strdup(actual);
            if (!*ret_digest)
                r = berth_error_set(err, -ENOMEM, "out of memory");
        }
        goto out;
    }
    free(w->tmp_path);
    w->tmp_path = NULL;
    int dfd = open(w->bs->blobs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    if (ret_created)
        *ret_created = created;
    if (ret_digest) {
        *ret_digest = strdup(actual);
        if (!*ret_digest)
            r = berth_error_set(err, -ENOMEM, "out of memory");
    }
out:
    free(final_path);
    blob_writer_abort(w);
    return r;
}

int blobstore_put(struct blobstore *bs, const void *data, size_t len, const char *expected_digest,
                  char **ret_digest, struct berth_error *err)
{
    struct blob_writer *w = NULL;
    int r = blobstore_writer_begin(bs, &w, err);
    if (r < 0)
        return r;
    r = blob_writer_write(w, data, len, err);
    if (r < 0) {
        blob_writer_abort(w);
        return r;
    }
    return blob_writer_commit(w, expected_digest, ret_digest, err);
}

int blobstore_delete(struct blobstore *bs, const char *digest, struct berth_error *err)
{
    _cleanup_free_ char *path = NULL;
    int r = blobstore_path(bs, digest, &path, err);
    if (r < 0)
        return r;
    if (unlink(path) < 0)
        return berth_error_errno(err, -errno, "deleting blob %s", digest);
    return 0;
}

int blobstore_foreach(struct blobstore *bs, int (*fn)(const char *digest, uint64_t size, void *userdata),
                      void *userdata)
{
    _cleanup_closedir_ DIR *d = opendir(bs->blobs_dir);
    if (!d)
        return -errno;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strlen(de->d_name) != 64)
            continue;
        char digest[72];
        memcpy(digest, "sha256:", 7);
        memcpy(digest + 7, de->d_name, 65);
        if (!digest_is_valid(digest))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) < 0)
            continue;
        int r = fn(digest, (uint64_t) st.st_size, userdata);
        if (r < 0)
            return r;
    }
    return 0;
}
