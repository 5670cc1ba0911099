/* Client credentials: the auth file (docker's auth.json shape, 0600) and WWW-Authenticate parsing. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "registry/base64.h"
#include "registry/client.h"

#define AUTH_FILE_MAX (1u << 20)

char *registry_auth_file_default(void)
{
    const char *root = getenv("BERTH_ROOT");
    char *p = NULL;
    if (root && *root) {
        if (asprintf(&p, "%s/auth.json", root) < 0)
            return NULL;
        return p;
    }
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && *xdg) {
        if (asprintf(&p, "%s/berth/auth.json", xdg) < 0)
            return NULL;
        return p;
    }
    const char *home = getenv("HOME");
    if (asprintf(&p, "%s/.config/berth/auth.json", home && *home ? home : "/root") < 0)
        return NULL;
    return p;
}

static int load(const char *path, json_t **ret, struct berth_error *err)
{
    if (!fs_exists(path)) {
        *ret = json_pack("{s:{}}", "auths");
        return *ret ? 0 : berth_error_set(err, -ENOMEM, "out of memory");
    }
    int r = json_load_path(path, AUTH_FILE_MAX, ret, err);
    if (r < 0)
        return r;
    if (!json_is_object(*ret)) {
        json_decref(*ret);
        return berth_error_set(err, -EINVAL, "%s: must be a JSON object", path);
    }
    if (!json_is_object(json_object_get(*ret, "auths")))
        json_object_set_new(*ret, "auths", json_object());
    return 0;
}

int registry_auth_lookup(const char *auth_file, const char *host, char **ret_user, char **ret_password,
                         struct berth_error *err)
{
    if (!fs_exists(auth_file))
        return 0;
    _cleanup_json_ json_t *root = NULL;
    int r = load(auth_file, &root, err);
    if (r < 0)
        return r;
    json_t *e = json_object_get(json_object_get(root, "auths"), host);
    const char *auth = json_string_value(json_object_get(e, "auth"));
    if (!auth)
        return 0;
    size_t len = 0;
    _cleanup_free_ char *dec = base64_decode(auth, &len);
    char *colon = dec ? strchr(dec, ':') : NULL;
    if (!colon)
        return berth_error_set(err, -EINVAL, "%s: auths.%s.auth: not base64 of user:password", auth_file, host);
    *colon = '\0';
    char *u = strdup(dec), *p = strdup(colon + 1);
    if (!u || !p) {
        free(u);
        free(p);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    *ret_user = u;
    *ret_password = p;
    return 1;
}

int registry_auth_store(const char *auth_file, const char *host, const char *user, const char *password,
                        struct berth_error *err)
{
    _cleanup_json_ json_t *root = NULL;
    int r = load(auth_file, &root, err);
    if (r < 0)
        return r;
    json_t *auths = json_object_get(root, "auths");
    if (password) {
        _cleanup_free_ char *plain = NULL;
        if (asprintf(&plain, "%s:%s", user, password) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
        _cleanup_free_ char *enc = base64_encode(plain, strlen(plain), false);
        if (!enc)
            return berth_error_set(err, -ENOMEM, "out of memory");
        json_object_set_new(auths, host, json_pack("{s:s}", "auth", enc));
    } else if (json_object_del(auths, host) < 0) {
        return berth_error_set(err, -ENOENT, "not logged in to %s", host);
    }
    _cleanup_free_ char *dir = strdup(auth_file);
    if (!dir)
        return berth_error_set(err, -ENOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if ((r = fs_mkdir_p(dir, 0700)) < 0)
            return berth_error_errno(err, r, "%s", dir);
    }
    _cleanup_free_ char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return berth_error_set(err, -ENOMEM, "out of memory");
    /* Credentials: written 0600 from the start (never briefly world-readable). */
    return fs_write_atomic(auth_file, text, strlen(text), 0600, err);
}

void registry_challenge_clear(struct registry_challenge *ch)
{
    free(ch->realm);
    free(ch->service);
    free(ch->scope);
    memset(ch, 0, sizeof(*ch));
}

int registry_challenge_parse(const char *header, struct registry_challenge *ret)
{
    struct registry_challenge ch = { 0 };
    const char *p = header;
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, " ");
    if (n == 0 || n >= sizeof(ch.scheme))
        return -EINVAL;
    memcpy(ch.scheme, p, n);
    p += n;
    /* key="value" or key=token, comma separated; values may contain commas inside quotes */
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *eq = strchr(p, '=');
        if (!eq)
            break;
        size_t klen = (size_t) (eq - p);
        const char *v = eq + 1;
        char *val;
        if (*v == '"') {
            v++;
            const char *end = strchr(v, '"');
            if (!end) {
                registry_challenge_clear(&ch);
                return -EINVAL;
            }
            val = strndup(v, (size_t) (end - v));
            p = end + 1;
        } else {
            size_t vlen = strcspn(v, ", ");
            val = strndup(v, vlen);
            p = v + vlen;
        }
        if (!val) {
            registry_challenge_clear(&ch);
            return -ENOMEM;
        }
        char **slot = NULL;
        if (klen == 5 && !strncasecmp(eq - 5, "realm", 5))
            slot = &ch.realm;
        else if (klen == 7 && !strncasecmp(eq - 7, "service", 7))
            slot = &ch.service;
        else if (klen == 5 && !strncasecmp(eq - 5, "scope", 5))
            slot = &ch.scope;
        if (slot) {
            free(*slot);
            *slot = val;
        } else {
            free(val);
        }
    }
    *ret = ch;
    return 0;
}
