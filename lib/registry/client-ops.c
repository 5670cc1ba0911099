/* Distribution-API operations of the client: ping, manifests, blob existence, download, upload. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "registry/client-internal.h"
#include "registry/manifest.h"

#define REQ(m) { .method = (m), .upload_fd = -1, .client = c }

static const char accept_all[] = MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST;

int registry_client_ping(struct registry_client *c, struct berth_error *err)
{
    struct http_req r = REQ("GET");
    int ret = http_do(c, &r, "/v2/", err);
    if (ret == 0 && r.status != 200) {
        char buf[256];
        ret = berth_error_set(err, -EIO, "%s: GET /v2/: %s", c->host, http_error_text(&r, buf, sizeof(buf)));
    }
    http_req_clear(&r);
    return ret;
}

int registry_client_get_manifest(struct registry_client *c, const char *repo, const char *ref, char **ret_data,
                                 size_t *ret_len, char **ret_media_type, char ret_digest[72], struct berth_error *err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "/v2/%s/manifests/%s", repo, ref) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    struct http_req r = REQ("GET");
    r.accept = accept_all;
    int ret = http_do(c, &r, path, err);
    if (ret < 0)
        goto out;
    if (r.status == 404) {
        ret = berth_error_set(err, -ENOENT, "%s/%s:%s: manifest unknown", c->host, repo, ref);
        goto out;
    }
    if (r.status != 200) {
        char buf[256];
        ret = berth_error_set(err, -EIO, "%s/%s:%s: %s", c->host, repo, ref, http_error_text(&r, buf, sizeof(buf)));
        goto out;
    }
    char digest[72];
    digest_of_buffer(r.out ? r.out : "", r.out_len, digest);
    if (digest_is_valid(ref) && strcmp(ref, digest)) {
        ret = berth_error_set(err, -EBADMSG, "%s/%s@%s: the registry sent content hashing to %s", c->host, repo, ref,
                              digest);
        goto out;
    }
    char mt[128] = "";
    if (r.content_type) {
        size_t n = strcspn(r.content_type, "; ");
        snprintf(mt, sizeof(mt), "%.*s", (int) n, r.content_type);
    }
    *ret_media_type = strdup(mt);
    *ret_data = r.out ? r.out : strdup("");
    r.out = NULL;
    *ret_len = r.out_len;
    memcpy(ret_digest, digest, 72);
out:
    http_req_clear(&r);
    return ret;
}

int registry_client_put_manifest(struct registry_client *c, const char *repo, const char *ref, const char *data,
                                 size_t len, const char *media_type, struct berth_error *err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "/v2/%s/manifests/%s", repo, ref) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    struct http_req r = REQ("PUT");
    r.body = data;
    r.body_len = len;
    r.content_type_req = media_type;
    int ret = http_do(c, &r, path, err);
    if (ret == 0 && r.status != 201 && r.status != 200) {
        char buf[512];
        ret = berth_error_set(err, -EIO, "%s/%s:%s: pushing the manifest: %s", c->host, repo, ref,
                              http_error_text(&r, buf, sizeof(buf)));
    }
    http_req_clear(&r);
    return ret;
}

int registry_client_blob_exists(struct registry_client *c, const char *repo, const char *digest, uint64_t *ret_size,
                                struct berth_error *err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "/v2/%s/blobs/%s", repo, digest) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    struct http_req r = REQ("HEAD");
    int ret = http_do(c, &r, path, err);
    if (ret == 0) {
        if (r.status == 200) {
            ret = 1;
            if (ret_size)
                *ret_size = r.content_length >= 0 ? (uint64_t) r.content_length : 0;
        } else if (r.status == 404) {
            ret = 0;
        } else {
            ret = berth_error_set(err, -EIO, "%s: HEAD %s: HTTP %ld", c->host, path, r.status);
        }
    }
    http_req_clear(&r);
    return ret;
}

int registry_client_get_blob(struct registry_client *c, const char *repo, const char *digest, uint64_t size,
                             struct blobstore *dst, struct berth_error *err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "/v2/%s/blobs/%s", repo, digest) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    struct blob_writer *w = NULL;
    int ret = blobstore_writer_begin(dst, &w, err);
    if (ret < 0)
        return ret;
    /* Each attempt continues from what already arrived (Range); only progress resets the budget. */
    int failures = 0;
    for (;;) {
        struct http_req r = REQ("GET");
        char range[64];
        uint64_t have = blob_writer_size(w);
        if (have > 0) {
            snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long) have);
            r.range = range;
        }
        r.sink = w;
        r.no_retry = true;
        r.progress_digest = digest;
        r.progress_total = size;
        r.progress_base = have;
        ret = http_do(c, &r, path, err);
        bool progressed = r.sink_written > 0;
        long status = r.status;
        char ebuf[256];
        if (ret == 0 && status != 200 && status != 206)
            http_error_text(&r, ebuf, sizeof(ebuf));
        http_req_clear(&r);
        if (ret == 0 && have > 0 && status == 200) {
            /* the server ignored Range and sent everything: start over */
            blob_writer_abort(w);
            w = NULL;
            ret = blobstore_writer_begin(dst, &w, err);
            if (ret < 0)
                return ret;
            continue;
        }
        if (ret == 0 && (status == 200 || status == 206) && (!size || blob_writer_size(w) >= size))
            break;
        if (ret == 0 && status == 404) {
            blob_writer_abort(w);
            return berth_error_set(err, -ENOENT, "%s/%s: blob %s unknown to the registry", c->host, repo, digest);
        }
        if (ret == 0 && status != 200 && status != 206) {
            blob_writer_abort(w);
            return berth_error_set(err, -EIO, "%s/%s: blob %s: %s", c->host, repo, digest, ebuf);
        }
        /* a transfer cut short (error, or fewer bytes than the descriptor's size) */
        failures = progressed ? 0 : failures + 1;
        if (failures >= c->opts.max_attempts || ret == -ENOSPC || ret == -EACCES || ret == -EPERM) {
            uint64_t got = blob_writer_size(w);
            blob_writer_abort(w);
            if (ret == 0)
                ret = berth_error_set(err, -EIO, "%s/%s: blob %s: transfer ended at %llu of %llu bytes", c->host,
                                      repo, digest, (unsigned long long) got, (unsigned long long) size);
            return ret;
        }
        berth_error_clear(err);
        struct timespec ts = { 0, 200L * 1000 * 1000 * (failures ? failures : 1) };
        nanosleep(&ts, NULL);
    }
    if (size && blob_writer_size(w) != size) {
        uint64_t got = blob_writer_size(w);
        blob_writer_abort(w);
        return berth_error_set(err, -EBADMSG, "%s/%s: blob %s: got %llu bytes, the manifest says %llu", c->host, repo,
                               digest, (unsigned long long) got, (unsigned long long) size);
    }
    ret = blob_writer_commit(w, digest, NULL, err);
    if (c->opts.progress)
        c->opts.progress(c->opts.progress_userdata, digest, size, size, true);
    return ret;
}

/* Resolves an upload Location (absolute or relative) and appends a query parameter. */
static char *location_with(const struct registry_client *c, const char *loc, const char *param)
{
    char *u = NULL;
    const char *sep = strchr(loc, '?') ? "&" : "?";
    int n;
    if (!strncmp(loc, "http://", 7) || !strncmp(loc, "https://", 8))
        n = asprintf(&u, "%s%s%s", loc, sep, param);
    else
        n = asprintf(&u, "%s://%s%s%s%s", c->scheme, c->host, loc, sep, param);
    return n < 0 ? NULL : u;
}

int registry_client_put_blob(struct registry_client *c, const char *repo, const char *digest, struct blobstore *src,
                             const char *mount_from, struct berth_error *err)
{
    int ret = registry_client_blob_exists(c, repo, digest, NULL, err);
    if (ret != 0)
        return ret < 0 ? ret : 0;
    _cleanup_close_ int fd = -1;
    uint64_t size = 0;
    if ((ret = blobstore_open_blob(src, digest, &fd, &size, err)) < 0)
        return ret;
    _cleanup_free_ char *path = NULL;
    int n = mount_from ? asprintf(&path, "/v2/%s/blobs/uploads/?mount=%s&from=%s", repo, digest, mount_from)
                       : asprintf(&path, "/v2/%s/blobs/uploads/", repo);
    if (n < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    for (int attempt = 1;; attempt++) {
        struct http_req r = REQ("POST");
        ret = http_do(c, &r, path, err);
        if (ret == 0 && r.status == 201) {
            http_req_clear(&r);
            return 0;   /* mounted */
        }
        if (ret == 0 && (r.status != 202 || !r.location)) {
            char buf[256];
            ret = berth_error_set(err, -EIO, "%s/%s: starting the upload of %s: %s", c->host, repo, digest,
                                  http_error_text(&r, buf, sizeof(buf)));
        }
        if (ret < 0) {
            http_req_clear(&r);
            return ret;
        }
        _cleanup_free_ char *param = NULL, *url = NULL;
        if (asprintf(&param, "digest=%s", digest) < 0 || !(url = location_with(c, r.location, param))) {
            http_req_clear(&r);
            return berth_error_set(err, -ENOMEM, "out of memory");
        }
        http_req_clear(&r);
        /* monolithic PUT streamed from the file */
        struct http_req p = REQ("PUT");
        p.upload_fd = fd;
        p.upload_size = size;
        p.content_type_req = "application/octet-stream";
        p.no_retry = true;
        p.progress_digest = digest;
        p.progress_total = size;
        ret = http_do(c, &p, url, err);
        long status = p.status;
        char buf[256];
        if (ret == 0 && status != 201)
            http_error_text(&p, buf, sizeof(buf));
        http_req_clear(&p);
        if (ret == 0 && status == 201) {
            if (c->opts.progress)
                c->opts.progress(c->opts.progress_userdata, digest, size, size, true);
            return 1;
        }
        bool retry = attempt < c->opts.max_attempts && (ret < 0 ? ret == -EIO : status >= 500);
        if (!retry) {
            if (ret == 0)
                ret = berth_error_set(err, -EIO, "%s/%s: uploading %s: %s", c->host, repo, digest, buf);
            return ret;
        }
        berth_error_clear(err);
        struct timespec ts = { 0, 250L * 1000 * 1000 * attempt };
        nanosleep(&ts, NULL);
    }
}
