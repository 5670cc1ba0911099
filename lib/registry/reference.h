/* Names, tags and references of the distribution spec: validation of what clients send the
 * server, and parsing of what users type ("host:port/repo/name:tag@sha256:..."). */
#pragma once

#include <stdbool.h>

#include "base/error.h"

#define REGISTRY_NAME_MAX 255
#define REGISTRY_TAG_MAX 128

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*, at most 255 bytes. */
bool registry_name_is_valid(const char *name);
/* [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */
bool registry_tag_is_valid(const char *tag);

struct registry_ref {
    char *host;     /* "localhost:5000", "registry.example.com" */
    char *name;     /* repository: "library/busybox" */
    char *tag;      /* NULL when only a digest was given */
    char *digest;   /* NULL unless "@sha256:..." */
};

/* Parses HOST/NAME[:TAG][@DIGEST]. Without a host-like first component (one with '.', ':' or
 * "localhost"), the host is docker.io and single names get "library/". No tag and no digest
 * means tag "latest". */
int registry_ref_parse(const char *s, struct registry_ref *ret, struct berth_error *err);
void registry_ref_clear(struct registry_ref *r);
/* The reference part to ask the registry for: the digest when given, else the tag. */
const char *registry_ref_target(const struct registry_ref *r);
