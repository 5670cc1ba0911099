/* Whole-image transfers between a blob store and a registry: pull (choosing a platform from a
 * multi-arch index) and push (indexes, manifests and their blobs, skipping what the registry has). */
#pragma once

#include <stdint.h>

#include "base/error.h"
#include "image/blobstore.h"
#include "registry/client.h"

struct registry_platform {
    char os[32], arch[32], variant[32];
};

/* The host's platform (linux/amd64, linux/arm64, linux/arm/v7, ...). */
void registry_platform_host(struct registry_platform *ret);
/* "os/arch[/variant]" */
int registry_platform_parse(const char *s, struct registry_platform *ret, struct berth_error *err);

struct registry_pulled {
    char top_digest[72];        /* what the reference named: an index or a manifest */
    char digest[72];            /* the image manifest pulled (the platform's, for an index) */
    char media_type[128];       /* of digest */
    uint64_t size;              /* of digest */
    uint64_t blobs_fetched, blobs_present, bytes_fetched;
};

int registry_pull(struct registry_client *c, const char *repo, const char *ref, const struct registry_platform *p,
                  struct blobstore *dst, struct registry_pulled *ret, struct berth_error *err);

struct registry_pushed {
    uint64_t blobs_uploaded, blobs_skipped;
};

/* Pushes the manifest or index digest (media_type) found in src to repo, tagged tag (a tag or
 * NULL to push by digest only). Every child of an index must be in src. */
int registry_push(struct registry_client *c, struct blobstore *src, const char *digest, const char *media_type,
                  const char *repo, const char *tag, const char *mount_from, struct registry_pushed *ret,
                  struct berth_error *err);
