/* Shared between the image store's files; not part of the public API. */
#pragma once

#include <sqlite3.h>

#include "image/image.h"
#include "store/store.h"

struct image_store {
    char *root;
    char *layers_dir;  /* <root>/layers */
    char *staging_dir; /* <root>/layers/.staging */
    struct store *db;
    struct blobstore *blobs;
    int lock_fd;
    int lock_depth;
    int lock_mode; /* LOCK_SH or LOCK_EX while lock_depth > 0 */
};

/* Loads the image row with manifest digest digest (exact). -ENOENT when absent. */
int image_load(struct image_store *is, const char *digest, struct image **ret, struct berth_error *err);

/* <root>/layers/<hex of diff_id> */
char *image_layer_path(struct image_store *is, const char *diff_id);

/* Binds text (SQLITE_TRANSIENT) and steps a statement expecting no rows. */
int image_db_exec1(struct image_store *is, const char *sql, const char *a, const char *b, struct berth_error *err);

/* image_store_add; *ret_fresh tells whether the image was recorded by this call. */
int image_store_add_ex(struct image_store *is, const char *manifest_digest, const char *ref,
                       const struct image_add_options *opts, char **ret_digest, bool *ret_fresh,
                       struct berth_error *err);

/* The full tag `what` names when it is one of img's tags (malloc'd), else NULL. */
char *image_tag_named(const struct image *img, const char *what);
