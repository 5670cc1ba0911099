#include "registry/reference.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "image/blobstore.h"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* over [s, s+len). */
static bool component_is_valid(const char *s, size_t len)
{
    size_t i = 0;
    if (len == 0 || !is_lower_alnum(s[0]))
        return false;
    while (i < len) {
        while (i < len && is_lower_alnum(s[i]))
            i++;
        if (i == len)
            return true;
        /* a separator, then at least one alnum */
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < len && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < len && s[i] == '-')
                i++;
        } else {
            return false;
        }
        if (i == len || !is_lower_alnum(s[i]))
            return false;
    }
    return true;
}

bool registry_name_is_valid(const char *name)
{
    if (!name)
        return false;
    size_t n = strlen(name);
    if (n == 0 || n > REGISTRY_NAME_MAX)
        return false;
    const char *p = name;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t) (name + n - p));
        size_t len = slash ? (size_t) (slash - p) : (size_t) (name + n - p);
        if (!component_is_valid(p, len))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

bool registry_tag_is_valid(const char *tag)
{
    if (!tag || !tag[0])
        return false;
    size_t n = strlen(tag);
    if (n > REGISTRY_TAG_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (i > 0)
            ok = ok || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

void registry_ref_clear(struct registry_ref *r)
{
    free(r->host);
    free(r->name);
    free(r->tag);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

const char *registry_ref_target(const struct registry_ref *r)
{
    return r->digest ? r->digest : r->tag;
}

int registry_ref_parse(const char *s, struct registry_ref *ret, struct berth_error *err)
{
    struct registry_ref r = { 0 };
    if (!s || !*s)
        return berth_error_set(err, -EINVAL, "empty image reference");
    _cleanup_free_ char *copy = strdup(s);
    if (!copy)
        return berth_error_set(err, -ENOMEM, "out of memory");
    char *at = strchr(copy, '@');
    if (at) {
        *at = '\0';
        if (!digest_is_valid(at + 1))
            return berth_error_set(err, -EINVAL, "reference '%s': '%s' is not a valid sha256 digest", s, at + 1);
        r.digest = strdup(at + 1);
    }
    char *rest = copy;
    char *slash = strchr(copy, '/');
    if (slash && (memchr(copy, '.', (size_t) (slash - copy)) || memchr(copy, ':', (size_t) (slash - copy)) ||
                  (slash - copy == 9 && !strncmp(copy, "localhost", 9)))) {
        *slash = '\0';
        r.host = strdup(copy);
        rest = slash + 1;
    } else {
        r.host = strdup("docker.io");
    }
    /* A tag follows the last ':' after the last '/'. */
    char *last_slash = strrchr(rest, '/');
    char *colon = strrchr(last_slash ? last_slash : rest, ':');
    if (colon) {
        *colon = '\0';
        if (!registry_tag_is_valid(colon + 1)) {
            registry_ref_clear(&r);
            return berth_error_set(err, -EINVAL, "reference '%s': '%s' is not a valid tag", s, colon + 1);
        }
        r.tag = strdup(colon + 1);
    } else if (!r.digest) {
        r.tag = strdup("latest");
    }
    if (!strcmp(r.host ? r.host : "", "docker.io") && !strchr(rest, '/')) {
        if (asprintf(&r.name, "library/%s", rest) < 0)
            r.name = NULL;
    } else {
        r.name = strdup(rest);
    }
    if (!r.host || !r.name || (colon && !r.tag) || (at && !r.digest) || (!colon && !at && !r.tag)) {
        registry_ref_clear(&r);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    if (!r.host[0] || !registry_name_is_valid(r.name)) {
        int q = berth_error_set(err, -EINVAL,
                                "reference '%s': '%s' is not a valid repository name (lowercase letters, digits, "
                                "separators '.', '_', '__', '-', components joined by '/')", s, r.name);
        registry_ref_clear(&r);
        return q;
    }
    *ret = r;
    return 0;
}
