/* Parsing of what arrives in an HTTP request to the registry: the /v2/ path into an endpoint,
 * Content-Range and Range headers. Pure functions over untrusted strings (fuzzed). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum registry_endpoint {
    REG_EP_INVALID,      /* not a distribution path */
    REG_EP_BASE,         /* /v2/ */
    REG_EP_CATALOG,      /* /v2/_catalog */
    REG_EP_TOKEN,        /* /token (the built-in token issuer) */
    REG_EP_MANIFEST,     /* /v2/<name>/manifests/<reference> */
    REG_EP_BLOB,         /* /v2/<name>/blobs/<digest> */
    REG_EP_UPLOAD_START, /* /v2/<name>/blobs/uploads/ */
    REG_EP_UPLOAD,       /* /v2/<name>/blobs/uploads/<id> */
    REG_EP_TAGS,         /* /v2/<name>/tags/list */
    REG_EP_REFERRERS,    /* /v2/<name>/referrers/<digest> */
};

#define REGISTRY_PATH_MAX 2048

struct registry_route {
    enum registry_endpoint ep;
    char name[REGISTRY_PATH_MAX];   /* repository name, not yet validated */
    char ref[REGISTRY_PATH_MAX];    /* tag, digest or upload id, not yet validated */
};

/* Splits path (without query string). Unknown shapes give REG_EP_INVALID; the name and reference
 * still have to be validated by the caller (they are only split here). */
void registry_route_parse(const char *path, struct registry_route *ret);

/* "Content-Range: <start>-<end>" (inclusive, the distribution spec's form, an optional "bytes "
 * prefix tolerated). false on any malformation or end < start. */
bool registry_parse_content_range(const char *s, uint64_t *ret_start, uint64_t *ret_end);

/* "Range: bytes=<start>-[<end>]" against a blob of size bytes. Returns 1 and the inclusive range
 * when satisfiable, 0 when unsatisfiable (416), -EINVAL when malformed (ignored: whole blob).
 * Suffix ranges ("bytes=-N") are supported; multiple ranges are not (-EINVAL). */
int registry_parse_range(const char *s, uint64_t size, uint64_t *ret_start, uint64_t *ret_end);

/* Strict decimal uint64 of the whole string. */
bool registry_parse_u64(const char *s, uint64_t *ret);
