/* Image references: `[domain/]path[:tag][@digest]`, normalised the way docker and podman display
 * them: a reference without a domain lives on docker.io, a one-component path on docker.io gets
 * "library/", and a reference without tag or digest means ":latest". */
#pragma once

#include <stdbool.h>

#include "base/error.h"

#define IMAGE_REF_NAME_MAX 255 /* domain + "/" + path, as the distribution spec limits it */
#define IMAGE_REF_TAG_MAX 128

struct image_ref {
    char *domain; /* "docker.io", "localhost:5000" */
    char *path;   /* "library/busybox" */
    char *tag;    /* "latest"; NULL only when a digest was given without a tag */
    char *digest; /* "sha256:<hex>" or NULL */
};

/* Parses and normalises s. Errors name the reference and what is wrong with it (-EINVAL). */
int image_ref_parse(const char *s, struct image_ref **ret, struct berth_error *err);
void image_ref_free(struct image_ref *ref);

/* "docker.io/library/busybox" (malloc'd, NULL on ENOMEM). */
char *image_ref_name(const struct image_ref *ref);
/* "docker.io/library/busybox:latest", "...@sha256:..", or "...:tag@sha256:.." (malloc'd). */
char *image_ref_string(const struct image_ref *ref);
/* The name:tag under which the store records a tag ("docker.io/library/busybox:latest"); NULL
 * when ref has no tag (a digest-only reference names an image but cannot tag it). */
char *image_ref_tagged(const struct image_ref *ref);

/* A tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool image_tag_is_valid(const char *tag);

static inline void image_ref_freep(struct image_ref **r)
{
    if (*r)
        image_ref_free(*r);
}
#define _cleanup_image_ref_ __attribute__((cleanup(image_ref_freep)))
