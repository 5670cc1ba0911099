/* The distribution-API client (libcurl): token (WWW-Authenticate Bearer) and Basic auth,
 * TLS verification on by default, retries with backoff, resumable blob downloads (Range),
 * streaming uploads with existence checks (HEAD) and cross-repository mounts. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "image/blobstore.h"

struct registry_client_options {
    bool tls_insecure;           /* --tls-verify=false: no certificate checks, plain HTTP allowed */
    const char *ca_file;         /* PEM CA bundle trusted instead of the system's (NULL: system) */
    const char *auth_file;       /* NULL: registry_auth_file_default() */
    const char *username;        /* explicit credentials win over the auth file */
    const char *password;
    int max_attempts;            /* per request, 0: 4 */
    /* Transfer progress of a blob; called with finished once at the end. */
    void (*progress)(void *userdata, const char *digest, uint64_t done, uint64_t total, bool finished);
    void *progress_userdata;
};

struct registry_client;

int registry_client_new(const char *host, const struct registry_client_options *o, struct registry_client **ret,
                        struct berth_error *err);
void registry_client_free(struct registry_client *c);

/* GET /v2/ with credentials: 0 when the registry accepts them (or needs none). */
int registry_client_ping(struct registry_client *c, struct berth_error *err);

/* A manifest by tag or digest (verified against a digest reference). Returns malloc'd data and
 * media type, and the digest of the content. */
int registry_client_get_manifest(struct registry_client *c, const char *repo, const char *ref, char **ret_data,
                                 size_t *ret_len, char **ret_media_type, char ret_digest[72], struct berth_error *err);
int registry_client_put_manifest(struct registry_client *c, const char *repo, const char *ref, const char *data,
                                 size_t len, const char *media_type, struct berth_error *err);

/* 1 present (size in *ret_size), 0 absent. */
int registry_client_blob_exists(struct registry_client *c, const char *repo, const char *digest, uint64_t *ret_size,
                                struct berth_error *err);
/* Downloads a blob into dst (verified); an interrupted transfer resumes where it stopped. */
int registry_client_get_blob(struct registry_client *c, const char *repo, const char *digest, uint64_t size,
                             struct blobstore *dst, struct berth_error *err);
/* Uploads a blob read from src unless the registry has it; mount_from (may be NULL) names a
 * repository of the same registry to mount it from. 1 uploaded, 0 already there or mounted. */
int registry_client_put_blob(struct registry_client *c, const char *repo, const char *digest, struct blobstore *src,
                             const char *mount_from, struct berth_error *err);

/* Credentials file: $BERTH_ROOT/auth.json when BERTH_ROOT is set, else
 * $XDG_CONFIG_HOME/berth/auth.json (~/.config/berth/auth.json). Malloc'd. */
char *registry_auth_file_default(void);
/* Looks up host in the auth file: 1 found, 0 not there. */
int registry_auth_lookup(const char *auth_file, const char *host, char **ret_user, char **ret_password,
                         struct berth_error *err);
/* Stores (password non-NULL) or removes (NULL) host's credentials; the file is 0600. Removing
 * an absent entry is -ENOENT. */
int registry_auth_store(const char *auth_file, const char *host, const char *user, const char *password,
                        struct berth_error *err);

/* Parses a WWW-Authenticate challenge: scheme ("Bearer", "Basic") and the realm, service and
 * scope parameters (malloc'd, NULL when absent). */
struct registry_challenge {
    char scheme[16];
    char *realm, *service, *scope;
};
int registry_challenge_parse(const char *header, struct registry_challenge *ret);
void registry_challenge_clear(struct registry_challenge *ch);
