/* Blob endpoints: GET/HEAD (with Range), DELETE, and uploads (monolithic POST, sessions with
 * chunked PATCH, final PUT, status GET, cancel DELETE, cross-repository mount). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "image/blobstore.h"
#include "registry/reference.h"
#include "registry/server-internal.h"

/* Blob bodies go out through a read callback rather than MHD's sendfile path: on this shared
 * 2-core machine under load (~20), bench/registry-style pulls measured 1.2x (curl) to 1.4x
 * (skopeo) faster through a 256 KiB pread buffer than with sendfile, for about 2.5x the server
 * CPU (still half of docker-registry's). The buffer is per response, so memory stays bounded. */
#define BLOB_READ_BUFFER (256u * 1024)

/* For a long download, at most BLOB_NOTSENT_LOWAT of the body waits unsent in the connection's
 * socket (TCP_NOTSENT_LOWAT: a write blocks until the backlog drains below it). Without a bound
 * the backlog grows to megabytes and the receiver's ACKs end up sending it: on one host, with
 * the client's CPU. skopeo pulls of a 200 MiB image in 50 MiB layers, interleaved 24 to 30 times
 * per setting: skopeo used 7 to 8 % less CPU and the pull took 5 to 7 % less time than without
 * the bound; 64 KiB did best of 32, 64, 128 and 256 KiB. The price is more wake-ups of the
 * server (0.15 s of CPU per such pull instead of 0.08): below BLOB_NOTSENT_LOWAT_FROM a body is
 * mostly in the socket buffers at once anyway, and 50 concurrent pulls of a 10 MiB image took
 * 14 % longer with the bound than without, so smaller blobs go out unbounded. */
#define BLOB_NOTSENT_LOWAT (64 * 1024)
#define BLOB_NOTSENT_LOWAT_FROM (16u << 20)

struct blob_reader {
    int fd;
    uint64_t start;
};

static ssize_t blob_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct blob_reader *br = cls;
    for (;;) {
        ssize_t n = pread(br->fd, buf, max, (off_t) (br->start + pos));
        if (n < 0 && errno == EINTR)
            continue;
        /* 0 before the announced length: the file shrank under us; the client sees a short body */
        return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void blob_reader_free(void *cls)
{
    struct blob_reader *br = cls;
    close(br->fd);
    free(br);
}

enum MHD_Result blob_get(struct registry_server *s, struct MHD_Connection *c, struct request *req, bool head)
{
    const char *digest = req->route.ref;
    if (!digest_is_valid(digest))
        return respond_error(s, c, req, 400, "DIGEST_INVALID", "invalid digest (sha256 only)", NULL);
    uint64_t size = 0;
    int r = registry_blob_linked(s->storage, req->route.name, digest, &size);
    if (r < 0)
        return respond_error(s, c, req, 500, "UNKNOWN", "storage error", NULL);
    if (r == 0)
        return respond_error(s, c, req, 404, "BLOB_UNKNOWN", "blob unknown to registry", digest);
    int fd = -1;
    if (blobstore_open_blob(registry_storage_blobs(s->storage), digest, &fd, &size, NULL) < 0)
        return respond_error(s, c, req, 404, "BLOB_UNKNOWN", "blob unknown to registry", digest);
    uint64_t start = 0, end = size ? size - 1 : 0;
    unsigned status = 200;
    const char *range = header(c, "Range");
    char content_range[128];
    if (range) {
        r = registry_parse_range(range, size, &start, &end);
        if (r == 0) {
            close(fd);
            struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
            snprintf(content_range, sizeof(content_range), "bytes */%llu", (unsigned long long) size);
            MHD_add_response_header(resp, "Content-Range", content_range);
            return respond(c, req, 416, resp);
        }
        if (r > 0) {
            status = 206;
            snprintf(content_range, sizeof(content_range), "bytes %llu-%llu/%llu", (unsigned long long) start,
                     (unsigned long long) end, (unsigned long long) size);
        } else {
            start = 0;   /* malformed Range: ignored, whole blob (RFC 9110) */
        }
    }
    uint64_t len = size ? end - start + 1 : 0;
    struct blob_reader *br = malloc(sizeof(*br));
    if (!br) {
        close(fd);
        return MHD_NO;
    }
    *br = (struct blob_reader) { .fd = fd, .start = start };
    if (!head) {
        /* set for every body, as the connection may carry a long download before a short one;
         * 0 is the system's default (no bound). Best effort: a socket that is not TCP refuses
         * it, and the body goes out all the same. */
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        int lowat = len >= BLOB_NOTSENT_LOWAT_FROM ? BLOB_NOTSENT_LOWAT : 0;
        if (ci)
            (void) setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
    }
    /* the buffer is allocated with the response: small blobs (configs) get a small one */
    size_t block = len < BLOB_READ_BUFFER ? (len < 4096 ? 4096 : (size_t) len) : BLOB_READ_BUFFER;
    struct MHD_Response *resp = MHD_create_response_from_callback(len, block, blob_read, br, blob_reader_free);
    if (!resp) {
        blob_reader_free(br);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    MHD_add_response_header(resp, "Docker-Content-Digest", digest);
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    char etag[REGISTRY_PATH_MAX + 8];
    snprintf(etag, sizeof(etag), "\"%s\"", digest);
    MHD_add_response_header(resp, "ETag", etag);
    if (status == 206)
        MHD_add_response_header(resp, "Content-Range", content_range);
    req->resp_size = head ? 0 : len;
    return respond(c, req, status, resp);
}

enum MHD_Result blob_delete(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    const char *digest = req->route.ref;
    if (!digest_is_valid(digest))
        return respond_error(s, c, req, 400, "DIGEST_INVALID", "invalid digest (sha256 only)", NULL);
    int r = registry_blob_unlink(s->storage, req->route.name, digest, NULL);
    if (r == -ENOENT)
        return respond_error(s, c, req, 404, "BLOB_UNKNOWN", "blob unknown to registry", digest);
    if (r < 0)
        return respond_error(s, c, req, 500, "UNKNOWN", "storage error", NULL);
    return respond_empty(c, req, 202);
}

/* ---- upload sessions ----
 * A session is a row of registry_uploads and the staging file session-<id>: both outlive the
 * process, so a client resumes after a server restart. The table below holds the sessions this
 * process has open (the writer and its hash state); others are reopened on first use. */

static void session_remove_locked(struct registry_server *s, struct upload_session *u);

static time_t upload_timeout(const struct registry_server *s)
{
    return s->cfg.upload_timeout ? (time_t) s->cfg.upload_timeout : REGISTRY_UPLOAD_TIMEOUT_DEFAULT;
}

/* Ends a session for good: its staging file and its record. */
static void session_discard(struct registry_server *s, struct upload_session *u)
{
    if (!u)
        return;
    blob_writer_abort(u->w);
    registry_upload_forget(s->storage, u->id);
    free(u);
}

/* Unlinks and discards sessions idle for too long (a client that went away for good). */
static void sessions_expire_locked(struct registry_server *s)
{
    time_t now = time(NULL);
    struct upload_session **pp = &s->sessions;
    while (*pp) {
        struct upload_session *u = *pp;
        if (!u->busy && now - u->last_used > upload_timeout(s)) {
            *pp = u->next;
            session_discard(s, u);
        } else {
            pp = &u->next;
        }
    }
}

void sessions_expire_stored(struct registry_server *s)
{
    registry_uploads_expire(s->storage, time(NULL) - upload_timeout(s), false, NULL, NULL);
}

void sessions_close_all(struct registry_server *s)
{
    pthread_mutex_lock(&s->sessions_lock);
    while (s->sessions) {
        struct upload_session *u = s->sessions;
        s->sessions = u->next;
        blob_writer_close(u->w);   /* file and record stay: the client may resume after a restart */
        free(u);
    }
    pthread_mutex_unlock(&s->sessions_lock);
}

static int session_create(struct registry_server *s, const char *repo, struct upload_session **ret)
{
    struct upload_session *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        free(u);
        return -EIO;
    }
    for (int i = 0; i < 16; i++)
        snprintf(u->id + 2 * i, 3, "%02x", rnd[i]);
    snprintf(u->repo, sizeof(u->repo), "%s", repo);
    char name[REGISTRY_UPLOAD_NAME_MAX];
    registry_upload_file_name(u->id, name);
    int r = blobstore_writer_begin_named(registry_storage_blobs(s->storage), name, &u->w, NULL);
    if (r < 0) {
        free(u);
        return r;
    }
    r = registry_upload_record(s->storage, u->id, repo, NULL);
    if (r < 0) {
        blob_writer_abort(u->w);
        free(u);
        return r;
    }
    u->last_used = time(NULL);
    pthread_mutex_lock(&s->sessions_lock);
    sessions_expire_locked(s);
    /* Sessions left from before a restart and never resumed: looked at now and then. */
    if (u->last_used - s->stored_swept > (upload_timeout(s) < 60 ? upload_timeout(s) : 60)) {
        s->stored_swept = u->last_used;
        sessions_expire_stored(s);
    }
    u->next = s->sessions;
    s->sessions = u;
    pthread_mutex_unlock(&s->sessions_lock);
    *ret = u;
    return 0;
}

/* Reopens a session this process does not have open (started before a restart) into u, whose
 * id and repo are set: 0, or -ENOENT when unknown, expired or its file is gone. Called without
 * the table lock: resuming re-hashes what the staging file holds, which takes seconds for a
 * multi-GB upload, and other uploads must not wait for it. */
static int session_reopen(struct registry_server *s, struct upload_session *u)
{
    if (registry_upload_lookup(s->storage, u->id, u->repo) <= 0)
        return -ENOENT;
    struct blobstore *bs = registry_storage_blobs(s->storage);
    char name[REGISTRY_UPLOAD_NAME_MAX];
    registry_upload_file_name(u->id, name);
    time_t mtime = 0;
    int r = blobstore_staging_stat(bs, name, NULL, &mtime);
    if (r <= 0 || time(NULL) - mtime > upload_timeout(s)) {
        blobstore_staging_remove(bs, name);
        registry_upload_forget(s->storage, u->id);
        return -ENOENT;
    }
    r = blobstore_writer_resume(bs, name, &u->w, NULL);
    if (r < 0)
        return r == -ENOMEM ? r : -ENOENT;
    u->offset = blob_writer_size(u->w);
    u->last_used = time(NULL);
    return 0;
}

/* Marks the session busy for this request: -ENOENT unknown (or another repository's), -EBUSY in use. */
static int session_acquire(struct registry_server *s, const char *repo, const char *id, struct upload_session **ret)
{
    int r = -ENOENT;
    pthread_mutex_lock(&s->sessions_lock);
    sessions_expire_locked(s);
    struct upload_session *found = NULL;
    for (struct upload_session *u = s->sessions; u; u = u->next)
        if (!strcmp(u->id, id)) {
            found = u;
            break;
        }
    if (found && strcmp(found->repo, repo)) {
        r = -ENOENT;
    } else if (found && found->busy) {
        r = -EBUSY;   /* also while another request reopens it */
    } else if (found && registry_upload_lookup(s->storage, id, repo) <= 0) {
        /* ended behind our back (registry gc removed it as abandoned) */
        session_remove_locked(s, found);
        blob_writer_abort(found->w);
        free(found);
        r = -ENOENT;
    } else if (found) {
        found->busy = true;
        r = 0;
    } else if (strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32) {
        /* Not open here: it goes in the table busy and without a writer, so a second request
         * for it gets -EBUSY rather than reopening it twice, and is reopened out of the lock. */
        found = calloc(1, sizeof(*found));
        if (found) {
            snprintf(found->id, sizeof(found->id), "%s", id);
            snprintf(found->repo, sizeof(found->repo), "%s", repo);
            found->busy = true;
            found->next = s->sessions;
            s->sessions = found;
            r = 1;
        } else {
            r = -ENOMEM;
        }
    }
    pthread_mutex_unlock(&s->sessions_lock);
    if (r == 1) {
        r = session_reopen(s, found);
        if (r < 0) {
            pthread_mutex_lock(&s->sessions_lock);
            session_remove_locked(s, found);
            pthread_mutex_unlock(&s->sessions_lock);
            free(found);
        }
    }
    if (r == 0)
        *ret = found;
    return r;
}

static void session_release(struct registry_server *s, struct upload_session *u)
{
    pthread_mutex_lock(&s->sessions_lock);
    u->busy = false;
    u->last_used = time(NULL);
    blob_writer_touch(u->w);   /* its mtime is the idle clock after a restart and for gc */
    pthread_mutex_unlock(&s->sessions_lock);
}

static void session_remove_locked(struct registry_server *s, struct upload_session *u)
{
    for (struct upload_session **pp = &s->sessions; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            break;
        }
}

/* Unlinks the session from the table; the caller owns (and ends) it. */
static void session_remove(struct registry_server *s, struct upload_session *u)
{
    pthread_mutex_lock(&s->sessions_lock);
    session_remove_locked(s, u);
    pthread_mutex_unlock(&s->sessions_lock);
}

static void add_session_headers(struct MHD_Response *resp, const struct upload_session *u)
{
    char loc[REGISTRY_PATH_MAX + 128], range[64];
    snprintf(loc, sizeof(loc), "/v2/%s/blobs/uploads/%s", u->repo, u->id);
    snprintf(range, sizeof(range), "0-%llu", (unsigned long long) (u->offset ? u->offset - 1 : 0));
    MHD_add_response_header(resp, "Location", loc);
    MHD_add_response_header(resp, "Range", range);
    MHD_add_response_header(resp, "Docker-Upload-UUID", u->id);
}

/* Answers with the session's Location and Range. release: hand the session back once the
 * headers are built (after that another request may end it). */
static enum MHD_Result respond_session(struct registry_server *s, struct MHD_Connection *c, struct request *req,
                                       unsigned status, struct upload_session *u, bool release)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
    if (resp)
        add_session_headers(resp, u);
    if (release)
        session_release(s, u);
    if (!resp)
        return MHD_NO;
    return respond(c, req, status, resp);
}

static enum MHD_Result respond_created(struct MHD_Connection *c, struct request *req, const char *digest)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    char loc[REGISTRY_PATH_MAX + 128];
    snprintf(loc, sizeof(loc), "/v2/%s/blobs/%s", req->route.name, digest);
    MHD_add_response_header(resp, "Location", loc);
    MHD_add_response_header(resp, "Docker-Content-Digest", digest);
    return respond(c, req, 201, resp);
}

static enum MHD_Result session_error(struct registry_server *s, struct MHD_Connection *c, struct request *req, int r)
{
    if (r == -EBUSY)
        return respond_error(s, c, req, 409, "BLOB_UPLOAD_INVALID", "another request is writing to this upload", NULL);
    return respond_error(s, c, req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", NULL);
}

/* Refuses a body that would take an upload past the size limit, before reading it. */
static bool too_big(struct registry_server *s, struct MHD_Connection *c, uint64_t already)
{
    uint64_t len;
    const char *cl = header(c, "Content-Length");
    return s->cfg.max_blob_size && cl && registry_parse_u64(cl, &len) &&
           (len > s->cfg.max_blob_size || already > s->cfg.max_blob_size - len);
}

static enum MHD_Result size_error(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    return respond_error(s, c, req, 413, "SIZE_INVALID", "blob larger than this registry accepts", NULL);
}

enum MHD_Result upload_begin(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    const char *m = req->method;
    if (req->route.ep == REG_EP_UPLOAD_START) {
        if (strcmp(m, "POST"))
            return respond_error(s, c, req, 405, "UNSUPPORTED", "uploads start with POST", NULL);
        const char *digest = query(c, "digest");
        const char *mount = query(c, "mount");
        if (mount)
            return MHD_YES;   /* decided in finish, nothing to read */
        if (digest) {
            if (!digest_is_valid(digest))
                return respond_error(s, c, req, 400, "DIGEST_INVALID", "invalid digest (sha256 only)", NULL);
            if (too_big(s, c, 0))
                return size_error(s, c, req);
            int r = blobstore_writer_begin(registry_storage_blobs(s->storage), &req->writer, NULL);
            if (r < 0)
                return respond_error(s, c, req, 500, "UNKNOWN", "cannot stage the upload", NULL);
            req->body = BODY_WRITER;
        }
        return MHD_YES;
    }
    if (!strcmp(m, "GET") || !strcmp(m, "DELETE"))
        return MHD_YES;
    if (strcmp(m, "PATCH") && strcmp(m, "PUT"))
        return respond_error(s, c, req, 405, "UNSUPPORTED", "method not allowed on an upload", NULL);
    if (!strcmp(m, "PUT")) {
        const char *digest = query(c, "digest");
        if (!digest || !digest_is_valid(digest))
            return respond_error(s, c, req, 400, "DIGEST_INVALID", "the final PUT needs ?digest=sha256:...", NULL);
    }
    int r = session_acquire(s, req->route.name, req->route.ref, &req->session);
    if (r < 0)
        return session_error(s, c, req, r);
    const char *cr = header(c, "Content-Range");
    if (cr) {
        uint64_t a, b;
        if (!registry_parse_content_range(cr, &a, &b) || a != req->session->offset)
            return respond_session(s, c, req, 416, TAKE_PTR(req->session), true);
    }
    if (too_big(s, c, req->session->offset))
        return respond_session(s, c, req, 413, TAKE_PTR(req->session), true);
    req->body = BODY_SESSION;
    return MHD_YES;
}

int upload_consume(struct registry_server *s, struct request *req, const char *data, size_t len)
{
    struct blob_writer *w = req->body == BODY_WRITER ? req->writer : req->session->w;
    /* chunked transfer encoding has no Content-Length: the limit is enforced as data arrives */
    if (s->cfg.max_blob_size && blob_writer_size(w) + len > s->cfg.max_blob_size)
        return -EFBIG;
    int r = blob_writer_write(w, data, len, NULL);
    if (r < 0)
        return r;
    req->received += len;
    if (req->body == BODY_SESSION)
        req->session->offset += len;
    return 0;
}

/* Publishes a finished writer under digest and links it into the repository. */
static enum MHD_Result publish(struct registry_server *s, struct MHD_Connection *c, struct request *req,
                               struct blob_writer *w, const char *digest)
{
    struct berth_error err = { 0 };
    bool owned = blobstore_has(registry_storage_blobs(s->storage), digest, NULL) <= 0;
    int r = blob_writer_commit(w, digest, NULL, &err);
    if (r == -EBADMSG)
        return respond_error(s, c, req, 400, "DIGEST_INVALID", "provided digest did not match uploaded content", digest);
    if (r == -ENOSPC || r == -EDQUOT)
        return respond_error(s, c, req, 507, "BLOB_UPLOAD_INVALID", "no space left on the registry's storage", NULL);
    if (r < 0)
        return respond_error(s, c, req, 500, "UNKNOWN", "cannot store the blob", NULL);
    if (registry_blob_link(s->storage, req->route.name, digest, owned, NULL) < 0)
        return respond_error(s, c, req, 500, "UNKNOWN", "cannot record the blob", NULL);
    return respond_created(c, req, digest);
}

static enum MHD_Result body_failed(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    if (req->body_error == -EFBIG)
        return size_error(s, c, req);
    if (req->body_error == -ENOSPC || req->body_error == -EDQUOT)
        return respond_error(s, c, req, 507, "BLOB_UPLOAD_INVALID", "no space left on the registry's storage", NULL);
    return respond_error(s, c, req, 500, "BLOB_UPLOAD_INVALID", "cannot store the upload", NULL);
}

enum MHD_Result upload_finish(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    const char *m = req->method;
    if (req->route.ep == REG_EP_UPLOAD_START) {
        const char *mount = query(c, "mount"), *from = query(c, "from");
        if (mount) {
            if (!digest_is_valid(mount))
                return respond_error(s, c, req, 400, "DIGEST_INVALID", "invalid mount digest", NULL);
            int r = 0;
            if (from && registry_name_is_valid(from))
                r = registry_blob_mount(s->storage, req->route.name, from, mount, NULL);
            if (r < 0)
                return respond_error(s, c, req, 500, "UNKNOWN", "storage error", NULL);
            if (r > 0)
                return respond_created(c, req, mount);
            /* Not mountable: the spec says fall back to an upload session. */
        }
        if (req->writer) {
            struct blob_writer *w = TAKE_PTR(req->writer);
            if (req->body_error) {
                blob_writer_abort(w);
                return body_failed(s, c, req);
            }
            return publish(s, c, req, w, query(c, "digest"));
        }
        struct upload_session *u = NULL;
        int r = session_create(s, req->route.name, &u);
        if (r == -ENOSPC || r == -EDQUOT)
            return respond_error(s, c, req, 507, "BLOB_UPLOAD_INVALID", "no space left on the registry's storage", NULL);
        if (r < 0)
            return respond_error(s, c, req, 500, "UNKNOWN", "cannot start an upload", NULL);
        return respond_session(s, c, req, 202, u, false);
    }
    if (!strcmp(m, "GET") || !strcmp(m, "DELETE")) {
        struct upload_session *u = NULL;
        int r = session_acquire(s, req->route.name, req->route.ref, &u);
        if (r < 0)
            return session_error(s, c, req, r);
        if (!strcmp(m, "GET"))
            return respond_session(s, c, req, 204, u, true);
        session_remove(s, u);
        session_discard(s, u);
        return respond_empty(c, req, 204);
    }
    struct upload_session *u = req->session;
    if (req->body_error) {
        /* The staging file may be what filled the disk: give the space back. */
        req->session = NULL;
        session_remove(s, u);
        session_discard(s, u);
        return body_failed(s, c, req);
    }
    if (!strcmp(m, "PATCH")) {
        req->session = NULL;
        return respond_session(s, c, req, 202, u, true);
    }
    /* PUT: complete. The session ends whatever the outcome. */
    req->session = NULL;
    session_remove(s, u);
    registry_upload_forget(s->storage, u->id);
    struct blob_writer *w = TAKE_PTR(u->w);
    free(u);
    return publish(s, c, req, w, query(c, "digest"));
}

void upload_request_ended(struct registry_server *s, struct request *req, bool completed)
{
    /* A monolithic upload cut short leaves nothing behind. */
    if (req->writer)
        blob_writer_abort(TAKE_PTR(req->writer));
    /* A session keeps what it received: GET on it tells the client where to resume. */
    if (req->session)
        session_release(s, TAKE_PTR(req->session));
}
