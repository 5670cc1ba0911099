#include "image/reference.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "image/blobstore.h"

void image_ref_free(struct image_ref *ref)
{
    if (!ref)
        return;
    free(ref->domain);
    free(ref->path);
    free(ref->tag);
    free(ref->digest);
    free(ref);
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* */
static bool path_component_is_valid(const char *s, size_t len)
{
    if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (is_lower_alnum(s[i]))
            continue;
        if (s[i] == '.') {
            if (!is_lower_alnum(s[i + 1]))
                return false;
        } else if (s[i] == '_') {
            if (s[i + 1] == '_')
                i++;
            if (!is_lower_alnum(s[i + 1]))
                return false;
        } else if (s[i] == '-') {
            while (s[i + 1] == '-')
                i++;
            if (!is_lower_alnum(s[i + 1]))
                return false;
        } else {
            return false;
        }
    }
    return true;
}

/* host[:port] with DNS-label host components (IPv6 literals are not supported). */
static bool domain_is_valid(const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len);
    size_t hlen = colon ? (size_t) (colon - s) : len;
    if (hlen == 0)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < hlen; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (isalnum((unsigned char) c) || (c == '-' && label > 0)) {
            label++;
        } else {
            return false;
        }
    }
    if (label == 0 || s[hlen - 1] == '-')
        return false;
    if (colon) {
        size_t plen = len - hlen - 1;
        if (plen == 0 || plen > 5)
            return false;
        for (size_t i = hlen + 1; i < len; i++)
            if (!isdigit((unsigned char) s[i]))
                return false;
    }
    return true;
}

bool image_tag_is_valid(const char *tag)
{
    size_t n = strlen(tag);
    if (n == 0 || n > IMAGE_REF_TAG_MAX)
        return false;
    if (!(isalnum((unsigned char) tag[0]) || tag[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char) tag[i]) || tag[i] == '_' || tag[i] == '.' || tag[i] == '-'))
            return false;
    return true;
}

int image_ref_parse(const char *s, struct image_ref **ret, struct berth_error *err)
{
    if (!s || !*s)
        return berth_error_set(err, -EINVAL, "invalid image reference '': empty");
    if (strlen(s) > 4096)
        return berth_error_set(err, -EINVAL, "invalid image reference: longer than 4096 characters");
    _cleanup_free_ char *copy = strdup(s);
    struct image_ref *ref = calloc(1, sizeof(*ref));
    _cleanup_(image_ref_freep) struct image_ref *owned = ref;
    if (!copy || !ref)
        return berth_error_set(err, -ENOMEM, "out of memory");

    char *at = strchr(copy, '@');
    if (at) {
        *at = '\0';
        if (!digest_is_valid(at + 1))
            return berth_error_set(err, -EINVAL, "invalid image reference '%s': '%s' is not a sha256 digest "
                                   "(sha256: and 64 lowercase hex digits)", s, at + 1);
        ref->digest = strdup(at + 1);
        if (!ref->digest)
            return berth_error_set(err, -ENOMEM, "out of memory");
    }
    /* The tag is after the last ':' that follows the last '/', so "host:5000/x" keeps its port. */
    char *slash = strrchr(copy, '/');
    char *colon = strrchr(slash ? slash : copy, ':');
    if (colon) {
        *colon = '\0';
        if (!image_tag_is_valid(colon + 1))
            return berth_error_set(err, -EINVAL, "invalid image reference '%s': invalid tag '%s' (letters, digits, "
                                   "'_', '.', '-', at most 128, not starting with '.' or '-')", s, colon + 1);
        ref->tag = strdup(colon + 1);
        if (!ref->tag)
            return berth_error_set(err, -ENOMEM, "out of memory");
    }
    if (!*copy)
        return berth_error_set(err, -EINVAL, "invalid image reference '%s': missing repository name", s);

    const char *path = copy;
    const char *first_slash = strchr(copy, '/');
    if (first_slash) {
        size_t dlen = (size_t) (first_slash - copy);
        bool is_domain = memchr(copy, '.', dlen) || memchr(copy, ':', dlen) ||
                         (dlen == 9 && !strncmp(copy, "localhost", 9));
        for (size_t i = 0; i < dlen && !is_domain; i++)
            if (isupper((unsigned char) copy[i]))
                is_domain = true;
        if (is_domain) {
            if (!domain_is_valid(copy, dlen))
                return berth_error_set(err, -EINVAL, "invalid image reference '%s': invalid registry '%.*s'", s,
                                       (int) dlen, copy);
            ref->domain = strndup(copy, dlen);
            path = first_slash + 1;
        }
    }
    if (!ref->domain)
        ref->domain = strdup("docker.io");
    if (!ref->domain)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (!strcmp(ref->domain, "index.docker.io")) {
        free(ref->domain);
        ref->domain = strdup("docker.io");
        if (!ref->domain)
            return berth_error_set(err, -ENOMEM, "out of memory");
    }

    for (const char *p = path;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        if (!path_component_is_valid(p, len)) {
            for (size_t i = 0; i < len; i++)
                if (isupper((unsigned char) p[i]))
                    return berth_error_set(err, -EINVAL, "invalid image reference '%s': repository name must be lowercase", s);
            return berth_error_set(err, -EINVAL, "invalid image reference '%s': invalid name component '%.*s'", s,
                                   (int) len, p);
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (!strcmp(ref->domain, "docker.io") && !strchr(path, '/')) {
        if (asprintf(&ref->path, "library/%s", path) < 0)
            ref->path = NULL;
    } else {
        ref->path = strdup(path);
    }
    if (!ref->path)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (strlen(ref->domain) + 1 + strlen(ref->path) > IMAGE_REF_NAME_MAX)
        return berth_error_set(err, -EINVAL, "invalid image reference '%s': name longer than %d characters", s,
                               IMAGE_REF_NAME_MAX);
    if (!ref->tag && !ref->digest) {
        ref->tag = strdup("latest");
        if (!ref->tag)
            return berth_error_set(err, -ENOMEM, "out of memory");
    }
    *ret = TAKE_PTR(owned);
    return 0;
}

char *image_ref_name(const struct image_ref *ref)
{
    char *s;
    if (asprintf(&s, "%s/%s", ref->domain, ref->path) < 0)
        return NULL;
    return s;
}

char *image_ref_string(const struct image_ref *ref)
{
    char *s;
    if (asprintf(&s, "%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "", ref->tag ? ref->tag : "",
                 ref->digest ? "@" : "", ref->digest ? ref->digest : "") < 0)
        return NULL;
    return s;
}

char *image_ref_tagged(const struct image_ref *ref)
{
    if (!ref->tag)
        return NULL;
    char *s;
    if (asprintf(&s, "%s/%s:%s", ref->domain, ref->path, ref->tag) < 0)
        return NULL;
    return s;
}
