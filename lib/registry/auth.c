#include "registry/auth.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "registry/base64.h"

#define HTPASSWD_MAX (1u << 20)
#define CACHE_SLOTS 64

struct htpasswd_entry {
    char *user;
    char *hash;
};

struct registry_htpasswd {
    struct htpasswd_entry *entries;
    size_t n, cap;
    pthread_mutex_t lock;
    unsigned char cache[CACHE_SLOTS][32];   /* sha256(user NUL password NUL hash) of good logins */
    unsigned cache_next;
};

void registry_htpasswd_free(struct registry_htpasswd *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++) {
        free(h->entries[i].user);
        free(h->entries[i].hash);
    }
    free(h->entries);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

int registry_htpasswd_load(const char *path, struct registry_htpasswd **ret, struct berth_error *err)
{
    _cleanup_free_ char *data = NULL;
    int r = fs_read_file(path, HTPASSWD_MAX, &data, NULL, err);
    if (r < 0)
        return r;
    struct registry_htpasswd *h = calloc(1, sizeof(*h));
    if (!h)
        return berth_error_set(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&h->lock, NULL);
    char *save = NULL;
    unsigned lineno = 0;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = '\0';
        if (!l || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (!colon || colon == line) {
            registry_htpasswd_free(h);
            return berth_error_set(err, -EINVAL, "%s:%u: expected user:hash", path, lineno);
        }
        *colon = '\0';
        const char *hash = colon + 1;
        if (strncmp(hash, "$2y$", 4) && strncmp(hash, "$2b$", 4) && strncmp(hash, "$2a$", 4) &&
            strncmp(hash, "$5$", 3) && strncmp(hash, "$6$", 3)) {
            registry_htpasswd_free(h);
            return berth_error_set(err, -EINVAL, "%s:%u: user '%s': unsupported hash (use bcrypt: htpasswd -B)", path,
                                   lineno, line);
        }
        if (ARRAY_RESERVE(h->entries, h->cap, h->n + 1, 8) < 0) {
            registry_htpasswd_free(h);
            return berth_error_set(err, -ENOMEM, "out of memory");
        }
        struct htpasswd_entry *n = h->entries;
        n[h->n].user = strdup(line);
        n[h->n].hash = strdup(hash);
        h->n++;
        if (!n[h->n - 1].user || !n[h->n - 1].hash) {
            registry_htpasswd_free(h);
            return berth_error_set(err, -ENOMEM, "out of memory");
        }
    }
    *ret = h;
    return 0;
}

static void cache_key(const char *user, const char *password, const char *hash, unsigned char out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int len = 0;
    if (!c) {
        memset(out, 0, 32);
        return;
    }
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, user, strlen(user) + 1);
    EVP_DigestUpdate(c, password, strlen(password) + 1);
    EVP_DigestUpdate(c, hash, strlen(hash) + 1);
    EVP_DigestFinal_ex(c, out, &len);
    EVP_MD_CTX_free(c);
}

bool registry_htpasswd_check(struct registry_htpasswd *h, const char *user, const char *password)
{
    const struct htpasswd_entry *e = NULL;
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->entries[i].user, user))
            e = &h->entries[i];
    if (!e)
        return false;
    unsigned char key[32];
    cache_key(user, password, e->hash, key);
    pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < CACHE_SLOTS; i++)
        if (!CRYPTO_memcmp(h->cache[i], key, 32)) {
            pthread_mutex_unlock(&h->lock);
            return true;
        }
    pthread_mutex_unlock(&h->lock);
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return false;
    /* crypt_rn (libxcrypt) rather than crypt_r: same work, NULL on failure instead of a "*"
     * string, and not intercepted by ASan (whose crypt_r hook has no real symbol to call). */
    const char *out = crypt_rn(password, e->hash, cd, (int) sizeof(*cd));
    bool ok = out && out[0] != '*' && strlen(out) == strlen(e->hash) && !CRYPTO_memcmp(out, e->hash, strlen(out));
    free(cd);
    if (ok) {
        pthread_mutex_lock(&h->lock);
        memcpy(h->cache[h->cache_next++ % CACHE_SLOTS], key, 32);
        pthread_mutex_unlock(&h->lock);
    }
    return ok;
}

int registry_parse_basic(const char *header, char **ret_user, char **ret_password)
{
    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return -EINVAL;
    const char *b = header + 6;
    while (*b == ' ')
        b++;
    if (strlen(b) > 4096)
        return -E2BIG;
    size_t len = 0;
    _cleanup_free_ char *dec = base64_decode(b, &len);
    if (!dec || strlen(dec) != len)
        return -EINVAL;
    char *colon = strchr(dec, ':');
    if (!colon)
        return -EINVAL;
    *colon = '\0';
    char *u = strdup(dec), *p = strdup(colon + 1);
    if (!u || !p) {
        free(u);
        free(p);
        return -ENOMEM;
    }
    *ret_user = u;
    *ret_password = p;
    return 0;
}

int registry_token_key_init(struct registry_token_key *k)
{
    return RAND_bytes(k->key, sizeof(k->key)) == 1 ? 0 : -EIO;
}

static int sign(const struct registry_token_key *k, const char *payload, char **ret)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), k->key, (int) sizeof(k->key), (const unsigned char *) payload, strlen(payload), mac,
              &maclen))
        return -EIO;
    char *s = base64_encode(mac, maclen, true);
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

int registry_token_issue(const struct registry_token_key *k, const char *user, const char *scope, int64_t ttl,
                         char **ret_token)
{
    _cleanup_free_ char *payload = NULL, *enc = NULL, *mac = NULL;
    if (strchr(user, '\n'))
        return -EINVAL;
    if (asprintf(&payload, "%lld\n%s\n%s", (long long) (time(NULL) + ttl), user, scope ? scope : "") < 0)
        return -ENOMEM;
    enc = base64_encode(payload, strlen(payload), true);
    if (!enc)
        return -ENOMEM;
    int r = sign(k, payload, &mac);
    if (r < 0)
        return r;
    if (asprintf(ret_token, "%s.%s", enc, mac) < 0)
        return -ENOMEM;
    return 0;
}

bool registry_scope_allows(const char *scope, const char *repo, const char *action)
{
    if (!repo)
        return true;
    size_t rl = strlen(repo), al = strlen(action);
    const char *p = scope;
    while (p && *p) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len > 11 && !strncmp(p, "repository:", 11)) {
            const char *name = p + 11;
            const char *end = p + len;
            const char *colon = memrchr(name, ':', (size_t) (end - name));
            if (colon && (size_t) (colon - name) == rl && !memcmp(name, repo, rl)) {
                const char *a = colon + 1;
                while (a < end) {
                    size_t n = strcspn(a, ", ");
                    if (a + n > end)
                        n = (size_t) (end - a);
                    if ((n == al && !memcmp(a, action, al)) || (n == 1 && *a == '*'))
                        return true;
                    a += n + 1;
                }
            }
        }
        p += len;
    }
    return false;
}

bool registry_token_check(const struct registry_token_key *k, const char *token, const char *repo, const char *action)
{
    if (!token || strlen(token) > 16384)
        return false;
    const char *dot = strchr(token, '.');
    if (!dot)
        return false;
    _cleanup_free_ char *enc = strndup(token, (size_t) (dot - token));
    if (!enc)
        return false;
    size_t len = 0;
    _cleanup_free_ char *payload = base64_decode(enc, &len);
    if (!payload || strlen(payload) != len)
        return false;
    _cleanup_free_ char *mac = NULL;
    if (sign(k, payload, &mac) < 0)
        return false;
    if (strlen(mac) != strlen(dot + 1) || CRYPTO_memcmp(mac, dot + 1, strlen(mac)))
        return false;
    char *nl = strchr(payload, '\n');
    if (!nl)
        return false;
    *nl = '\0';
    long long exp = strtoll(payload, NULL, 10);
    if (exp < (long long) time(NULL))
        return false;
    char *scope = strchr(nl + 1, '\n');
    if (!scope)
        return false;
    return registry_scope_allows(scope + 1, repo, action);
}
