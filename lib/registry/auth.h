/* The server's access control: htpasswd files (bcrypt or SHA-crypt hashes, checked with
 * crypt(3)) for Basic auth, and short-lived HMAC-signed bearer tokens for the token flow
 * (the server is its own token issuer at /token). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

struct registry_htpasswd;

/* Lines "user:hash"; hashes must be bcrypt ($2y$, $2b$, $2a$) or SHA-crypt ($5$, $6$). */
int registry_htpasswd_load(const char *path, struct registry_htpasswd **ret, struct berth_error *err);
void registry_htpasswd_free(struct registry_htpasswd *h);
/* Thread-safe. Successful checks are remembered (keyed by a hash of user and password) so a
 * client does not pay bcrypt's cost on every request. */
bool registry_htpasswd_check(struct registry_htpasswd *h, const char *user, const char *password);

/* Parses "Basic base64(user:password)" into malloc'd strings. */
int registry_parse_basic(const char *header, char **ret_user, char **ret_password);

struct registry_token_key {
    unsigned char key[32];
};

int registry_token_key_init(struct registry_token_key *k);
/* scope: space-separated "repository:NAME:ACTION[,ACTION]" the holder is granted. */
int registry_token_issue(const struct registry_token_key *k, const char *user, const char *scope, int64_t ttl,
                         char **ret_token);
/* Whether token is authentic, unexpired and grants action ("pull", "push", "delete") on repo
 * (repo NULL: any valid token, for GET /v2/). */
bool registry_token_check(const struct registry_token_key *k, const char *token, const char *repo, const char *action);

/* Whether a granted scope string covers action on repo. */
bool registry_scope_allows(const char *scope, const char *repo, const char *action);
