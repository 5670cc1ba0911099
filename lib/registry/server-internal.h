/* Shared between the server's files: the server, per-request state and response helpers. */
#pragma once

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "registry/auth.h"
#include "registry/route.h"
#include "registry/server.h"
#include "registry/storage.h"

/* An upload session (POST without digest ... PATCH ... PUT). The staging file is the blob
 * store's: never visible as a blob until the final PUT verified its digest. Recorded in the
 * database, so it survives a restart (see server-blobs.c). */
struct upload_session {
    char id[33];
    char repo[REGISTRY_PATH_MAX];
    struct blob_writer *w;
    uint64_t offset;
    time_t last_used;
    bool busy;               /* a request is writing to it */
    struct upload_session *next;
};

struct registry_server {
    struct registry_server_config cfg;
    struct registry_storage *storage;
    struct MHD_Daemon *daemon;
    uint16_t port;
    bool tls;
    char *cert_pem, *key_pem;
    struct registry_htpasswd *users;
    struct registry_token_key token_key;
    pthread_mutex_t sessions_lock;
    struct upload_session *sessions;
    time_t stored_swept;     /* last sessions_expire_stored, under sessions_lock */
    bool started;            /* MHD_start_daemon returned: its messages go to the log from then on */
    char start_error[256];   /* its first message before that, for the one-line start error */
};

enum body_kind {
    BODY_NONE,       /* body ignored */
    BODY_DISCARD,    /* a response is decided; drain whatever is sent */
    BODY_MANIFEST,   /* buffered up to REGISTRY_MANIFEST_MAX */
    BODY_WRITER,     /* streamed into req->writer (monolithic POST) */
    BODY_SESSION,    /* streamed into req->session->w (PATCH, final PUT) */
};

struct request {
    struct registry_route route;
    const char *method;
    char url[512];           /* for the request log, truncated */
    struct timespec start;
    char user[128];
    enum body_kind body;
    char *buf;
    size_t len, cap;
    bool too_large;
    struct blob_writer *writer;
    struct upload_session *session;
    uint64_t received;
    int body_error;          /* -errno from storing the body */
    unsigned status;
    uint64_t resp_size;
    bool responded;
};

/* Responses. Each returns MHD's result for the handler to return. */
enum MHD_Result respond_error(struct registry_server *s, struct MHD_Connection *c, struct request *req,
                              unsigned status, const char *code, const char *message, const char *detail_digest);
/* Queues resp with the common headers; takes ownership of resp. */
enum MHD_Result respond(struct MHD_Connection *c, struct request *req, unsigned status, struct MHD_Response *resp);
enum MHD_Result respond_empty(struct MHD_Connection *c, struct request *req, unsigned status);
enum MHD_Result respond_json(struct MHD_Connection *c, struct request *req, unsigned status, const char *content_type,
                             json_t *body, struct MHD_Response **ret_resp_for_headers);

const char *query(struct MHD_Connection *c, const char *key);
const char *header(struct MHD_Connection *c, const char *key);

/* Endpoint handlers. begin_* run on the first call (may respond at once or arrange the body);
 * finish_* run once the body is complete. */
enum MHD_Result blob_get(struct registry_server *s, struct MHD_Connection *c, struct request *req, bool head);
enum MHD_Result blob_delete(struct registry_server *s, struct MHD_Connection *c, struct request *req);
enum MHD_Result upload_begin(struct registry_server *s, struct MHD_Connection *c, struct request *req);
enum MHD_Result upload_finish(struct registry_server *s, struct MHD_Connection *c, struct request *req);
int upload_consume(struct registry_server *s, struct request *req, const char *data, size_t len);
void upload_request_ended(struct registry_server *s, struct request *req, bool completed);
/* At stop: closes the open sessions, keeping them for a later server. */
void sessions_close_all(struct registry_server *s);
/* At start: ends the stored sessions idle for longer than the upload timeout. */
void sessions_expire_stored(struct registry_server *s);

enum MHD_Result manifest_get(struct registry_server *s, struct MHD_Connection *c, struct request *req, bool head);
enum MHD_Result manifest_put_finish(struct registry_server *s, struct MHD_Connection *c, struct request *req);
enum MHD_Result manifest_delete(struct registry_server *s, struct MHD_Connection *c, struct request *req);
enum MHD_Result tags_list(struct registry_server *s, struct MHD_Connection *c, struct request *req);
enum MHD_Result catalog_list(struct registry_server *s, struct MHD_Connection *c, struct request *req);
enum MHD_Result referrers_list(struct registry_server *s, struct MHD_Connection *c, struct request *req);
