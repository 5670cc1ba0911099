/* The OCI distribution-spec v1.1 registry server (libmicrohttpd, one thread per connection).
 * Storage is registry/storage.h over the root's shared blob store. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

enum registry_auth_mode { REGISTRY_AUTH_NONE, REGISTRY_AUTH_BASIC, REGISTRY_AUTH_TOKEN };

struct registry_server_config {
    const char *root;            /* state root: berth.db and blobs/ */
    const char *addr;            /* "127.0.0.1:5000", "[::1]:5000", ":5000"; port 0 picks one */
    const char *tls_cert;        /* PEM files, both or neither */
    const char *tls_key;
    enum registry_auth_mode auth;
    const char *htpasswd;        /* users for BASIC and TOKEN */
    bool read_only;
    bool anonymous_pull;         /* pulls without credentials even when auth is on */
    uint64_t max_blob_size;      /* largest blob accepted in an upload, 0: no limit but the disk */
    uint64_t upload_timeout;     /* seconds an upload session may stay idle, 0: the default */
    /* One line per request and per notable event; called from connection threads. */
    void (*log)(void *userdata, const char *line);
    void *log_userdata;
};

/* An upload session idle for longer is ended (its data removed). */
#define REGISTRY_UPLOAD_TIMEOUT_DEFAULT 3600

struct registry_server;

int registry_server_start(const struct registry_server_config *cfg, struct registry_server **ret,
                          struct berth_error *err);
uint16_t registry_server_port(const struct registry_server *s);
/* Stops accepting, waits for connections to finish; upload sessions stay (a later server on the
 * same root resumes them). */
void registry_server_stop(struct registry_server *s);
