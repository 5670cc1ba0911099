/* Fuzzes what the registry parses from an HTTP request: the path (routing, name, tag and digest
 * validation), Content-Range, Range, Basic credentials and bearer tokens, and client-side
 * references. Input: lines "path\ncontent-range\nrange\nauthorization\nreference". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/blobstore.h"
#include "registry/auth.h"
#include "registry/reference.h"
#include "registry/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *fields[5] = { "", "", "", "", "" };
    char *p = buf;
    for (int i = 0; i < 5 && p; i++) {
        fields[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    struct registry_route rt;
    registry_route_parse(fields[0], &rt);
    if (rt.ep != REG_EP_INVALID) {
        (void) registry_name_is_valid(rt.name);
        (void) registry_tag_is_valid(rt.ref);
        (void) digest_is_valid(rt.ref);
    }
    uint64_t a, b;
    if (registry_parse_content_range(fields[1], &a, &b) && b < a)
        abort();
    if (registry_parse_range(fields[2], 1000, &a, &b) == 1 && (b < a || b >= 1000))
        abort();
    char *u = NULL, *pw = NULL;
    if (registry_parse_basic(fields[3], &u, &pw) == 0) {
        free(u);
        free(pw);
    }
    static struct registry_token_key key;   /* zero key: deterministic */
    (void) registry_token_check(&key, fields[3], "a/b", "pull");
    (void) registry_scope_allows(fields[3], "a/b", "push");
    struct registry_ref ref;
    if (registry_ref_parse(fields[4], &ref, NULL) == 0)
        registry_ref_clear(&ref);
    free(buf);
    return 0;
}
