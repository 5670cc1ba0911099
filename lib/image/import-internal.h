/* Shared by the importers and the exporter. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "image/image.h"
#include "image/import.h"

/* Blobs an import created, so that a failed (or partly useless) import leaves nothing behind. */
struct created_blobs {
    char **digests;
    size_t n, cap;
};
int created_blobs_add(struct created_blobs *c, const char *digest);
/* Removes the created blobs no image references; frees the list. */
void created_blobs_sweep(struct image_store *is, struct created_blobs *c);

/* Copy progress shared by the importers. */
struct copy_progress {
    const struct image_progress *progress;
    uint64_t bytes, last;
    unsigned item, items;
    enum image_progress_phase phase; /* COPY (the default) or EXPORT */
};
void copy_progress_update(struct copy_progress *p, const char *what, uint64_t delta, int done);
