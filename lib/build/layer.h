/* Writing image layers for berth build: a tar stream, hashed uncompressed (the diff_id) and
 * gzip-compressed into the blob store (the layer digest) in one pass. Trees are walked by file
 * descriptor without following symlinks. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "build/ignore.h"
#include "image/blobstore.h"

struct layer_writer;

struct layer_tree_opts {
    bool whiteouts;   /* the tree is an overlayfs upper dir: 0/0 char devices and opaque dirs
                       * become .wh.NAME and .wh..wh..opq entries */
    bool zero_mtime;  /* for content hashes (cache keys): mtimes do not count */
    long uid, gid;    /* owner of every entry; -1 keeps the file's own */
    bool has_mode;    /* COPY --chmod: permission bits of every entry but symlinks */
    unsigned mode;
    /* .dockerignore: entries it excludes are left out; src is the tree's path relative to the
     * build context ("" for the context itself). NULL: everything. */
    const struct build_ignore *ignore;
    const char *src;
};

/* bs NULL: hash only (no blob is written). */
int layer_writer_begin(struct blobstore *bs, struct layer_writer **ret, struct berth_error *err);
/* Adds the tree at name below dir_fd (a file, symlink or directory; "." for dir_fd itself) as
 * dest (relative, no leading '/'; "" for the layer root: only the children are added). */
int layer_writer_add_tree(struct layer_writer *lw, int dir_fd, const char *name, const char *dest,
                          const struct layer_tree_opts *opts, struct berth_error *err);
/* Ends the tar; ret_diff_id gets the uncompressed sha256, *ret_digest (malloc'd) and *ret_size the
 * gzip blob (NULL/0 when hashing only). Frees lw in every case. */
int layer_writer_finish(struct layer_writer *lw, char ret_diff_id[72], char **ret_digest, uint64_t *ret_size,
                        struct berth_error *err);
void layer_writer_abort(struct layer_writer *lw);
