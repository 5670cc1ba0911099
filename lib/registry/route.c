#include "registry/route.h"

#include <errno.h>
#include <string.h>

bool registry_parse_u64(const char *s, uint64_t *ret)
{
    uint64_t v = 0;
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        uint64_t d = (uint64_t) (*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *ret = v;
    return true;
}

/* Parses decimal digits at *p, advancing it. */
static bool parse_num(const char **p, uint64_t *ret)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t) (*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *p = s;
    *ret = v;
    return true;
}

static bool copy_bounded(char *dst, const char *src, size_t len)
{
    if (len >= REGISTRY_PATH_MAX)
        return false;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return true;
}

void registry_route_parse(const char *path, struct registry_route *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->ep = REG_EP_INVALID;
    if (!path)
        return;
    size_t n = strlen(path);
    if (n >= REGISTRY_PATH_MAX)
        return;
    if (!strcmp(path, "/token")) {
        ret->ep = REG_EP_TOKEN;
        return;
    }
    if (!strcmp(path, "/v2") || !strcmp(path, "/v2/")) {
        ret->ep = REG_EP_BASE;
        return;
    }
    if (strncmp(path, "/v2/", 4) != 0)
        return;
    const char *rest = path + 4;
    size_t rlen = n - 4;
    if (!strcmp(rest, "_catalog")) {
        ret->ep = REG_EP_CATALOG;
        return;
    }
    /* <head>/<last>, <head> = <name>/<kind>. Splitting from the right lets names contain
     * components such as "blobs" or "manifests". */
    const char *last_slash = memrchr(rest, '/', rlen);
    if (!last_slash)
        return;
    const char *last = last_slash + 1;
    size_t last_len = (size_t) (rest + rlen - last);
    size_t head_len = (size_t) (last_slash - rest);
    const char *kind_slash = memrchr(rest, '/', head_len);
    if (!kind_slash)
        return;
    const char *kind = kind_slash + 1;
    size_t kind_len = (size_t) (last_slash - kind);
    size_t name_len = (size_t) (kind_slash - rest);
    enum registry_endpoint ep = REG_EP_INVALID;

#define KIND_IS(s) (kind_len == sizeof(s) - 1 && !memcmp(kind, s, sizeof(s) - 1))
    if (KIND_IS("manifests") && last_len > 0) {
        ep = REG_EP_MANIFEST;
    } else if (KIND_IS("blobs") && last_len > 0) {
        ep = (last_len == 7 && !memcmp(last, "uploads", 7)) ? REG_EP_UPLOAD_START : REG_EP_BLOB;
    } else if (KIND_IS("uploads")) {
        /* <name>/blobs/uploads/<id> */
        if (name_len >= 6 && !memcmp(rest + name_len - 6, "/blobs", 6)) {
            name_len -= 6;
            ep = last_len ? REG_EP_UPLOAD : REG_EP_UPLOAD_START;
        }
    } else if (KIND_IS("tags") && last_len == 4 && !memcmp(last, "list", 4)) {
        ep = REG_EP_TAGS;
    } else if (KIND_IS("referrers") && last_len > 0) {
        ep = REG_EP_REFERRERS;
    }
#undef KIND_IS
    if (ep == REG_EP_INVALID || name_len == 0)
        return;
    if (!copy_bounded(ret->name, rest, name_len))
        return;
    if (ep != REG_EP_UPLOAD_START && ep != REG_EP_TAGS && !copy_bounded(ret->ref, last, last_len))
        return;
    ret->ep = ep;
}

bool registry_parse_content_range(const char *s, uint64_t *ret_start, uint64_t *ret_end)
{
    uint64_t a, b;
    if (!s)
        return false;
    if (!strncmp(s, "bytes ", 6))
        s += 6;
    else if (!strncmp(s, "bytes=", 6))
        s += 6;
    if (!parse_num(&s, &a) || *s++ != '-' || !parse_num(&s, &b))
        return false;
    /* some clients append "/<total>" or a star for an unknown total */
    if (*s == '/') {
        s++;
        uint64_t total;
        if (!(s[0] == '*' && s[1] == '\0') && (!parse_num(&s, &total) || *s))
            return false;
    } else if (*s) {
        return false;
    }
    if (b < a)
        return false;
    *ret_start = a;
    *ret_end = b;
    return true;
}

int registry_parse_range(const char *s, uint64_t size, uint64_t *ret_start, uint64_t *ret_end)
{
    uint64_t a, b;
    if (!s || strncmp(s, "bytes=", 6) != 0)
        return -EINVAL;
    s += 6;
    while (*s == ' ')
        s++;
    if (*s == '-') {
        s++;
        if (!parse_num(&s, &b) || *s)
            return -EINVAL;
        if (b == 0 || size == 0)
            return 0;
        *ret_start = b >= size ? 0 : size - b;
        *ret_end = size - 1;
        return 1;
    }
    if (!parse_num(&s, &a) || *s++ != '-')
        return -EINVAL;
    if (*s == '\0') {
        b = UINT64_MAX;
    } else if (!parse_num(&s, &b) || *s) {
        return -EINVAL;
    }
    if (b < a)
        return -EINVAL;
    if (a >= size)
        return 0;
    *ret_start = a;
    *ret_end = b >= size ? size - 1 : b;
    return 1;
}
