/* Shared by the client's files: the client and one HTTP exchange. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "registry/client.h"

struct registry_client {
    struct registry_client_options opts;
    char *host;
    const char *scheme;      /* "https", or "http" after a failed TLS handshake with tls_insecure */
    bool scheme_fixed;
    char *user, *password;
    bool basic;              /* the registry asked for Basic: send credentials up front */
    char *token;             /* the last bearer token */
};

struct http_req {
    const char *method;
    const char *accept;
    const char *content_type_req;
    const char *range;
    const char *body;        /* in-memory request body */
    size_t body_len;
    int upload_fd;           /* or a file streamed as the body (-1: none) */
    uint64_t upload_size;
    uint64_t body_off;
    struct blob_writer *sink;/* 200/206 bodies go here instead of memory */
    uint64_t sink_written;
    int sink_error;
    bool no_retry;
    const char *progress_digest;
    uint64_t progress_total, progress_base;
    struct registry_client *client;
    void *curl;
    /* response */
    long status;
    char *url;
    char *out;
    size_t out_len, out_cap;
    bool too_large;
    char *location, *content_type, *digest, *www_auth;
    long long content_length;
};

/* Runs the request with auth negotiation and retries. 0 when an HTTP response arrived (any
 * status: the caller interprets it), -errno when none did. */
int http_do(struct registry_client *c, struct http_req *r, const char *path_or_url, struct berth_error *err);
void http_req_reset_response(struct http_req *r);
void http_req_clear(struct http_req *r);
const char *http_error_text(const struct http_req *r, char *buf, size_t size);
