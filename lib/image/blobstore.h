/* The content-addressed blob store shared by the image store and the registry:
 * <root>/blobs/sha256/<hex>. A blob becomes visible only once complete and verified: writers
 * stream into <root>/blobs/.staging/ and rename into place after the digest matched. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/error.h"

struct blobstore;
struct blob_writer;

/* Only "sha256:" followed by 64 lowercase hex digits is accepted. */
bool digest_is_valid(const char *digest);

int blobstore_open(const char *root, struct blobstore **ret, struct berth_error *err);
void blobstore_free(struct blobstore *bs);

/* The path of a blob (which may not exist). */
int blobstore_path(struct blobstore *bs, const char *digest, char **ret_path, struct berth_error *err);

/* 1 and the size when present, 0 when absent, -errno on error. */
int blobstore_has(struct blobstore *bs, const char *digest, uint64_t *ret_size);

/* Opens a blob for reading. */
int blobstore_open_blob(struct blobstore *bs, const char *digest, int *ret_fd, uint64_t *ret_size,
                        struct berth_error *err);

/* Reads a whole blob of at most max bytes (manifests, configs), verifying its digest. */
int blobstore_read(struct blobstore *bs, const char *digest, size_t max, char **ret_data, size_t *ret_len,
                   struct berth_error *err);

/* Stores data; expected_digest (may be NULL) must match. *ret_digest (may be NULL) is malloc'd. */
int blobstore_put(struct blobstore *bs, const void *data, size_t len, const char *expected_digest,
                  char **ret_digest, struct berth_error *err);

/* Streaming writes: begin, write..., commit (verifies, publishes) or abort (removes). */
int blobstore_writer_begin(struct blobstore *bs, struct blob_writer **ret, struct berth_error *err);
int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct berth_error *err);
uint64_t blob_writer_size(const struct blob_writer *w);
/* Named staging files, for writes that outlive the process (the registry's upload sessions):
 * <root>/blobs/.staging/<name>, name made of [A-Za-z0-9_-]. begin_named creates the file (-EEXIST
 * when it is there); resume reopens it, re-hashing what it holds, and appends after its end
 * (-ENOENT when it is gone). blob_writer_close frees w but keeps the file for a later resume. */
int blobstore_writer_begin_named(struct blobstore *bs, const char *name, struct blob_writer **ret,
                                 struct berth_error *err);
int blobstore_writer_resume(struct blobstore *bs, const char *name, struct blob_writer **ret, struct berth_error *err);
void blob_writer_close(struct blob_writer *w);
/* Marks the staging file used now (its mtime is what idle-upload sweeps look at). */
void blob_writer_touch(struct blob_writer *w);
/* Size and last modification of a named staging file: 1 found, 0 absent, -errno. */
int blobstore_staging_stat(struct blobstore *bs, const char *name, uint64_t *ret_size, time_t *ret_mtime);
/* Removes a named staging file; 0 also when it was absent. */
int blobstore_staging_remove(struct blobstore *bs, const char *name);
/* Frees w in every case. */
int blob_writer_commit(struct blob_writer *w, const char *expected_digest, char **ret_digest,
                       struct berth_error *err);
void blob_writer_abort(struct blob_writer *w);
/* Like blob_writer_commit; *ret_created (may be NULL) tells whether the blob is new (false: an
 * identical blob was already stored, and is left untouched). Lets an importer remove exactly the
 * blobs it added when it fails. */
int blob_writer_commit_new(struct blob_writer *w, const char *expected_digest, char **ret_digest, bool *ret_created,
                           struct berth_error *err);

int blobstore_delete(struct blobstore *bs, const char *digest, struct berth_error *err);

/* Calls fn for every stored digest; a negative return from fn stops the walk and is returned. */
int blobstore_foreach(struct blobstore *bs, int (*fn)(const char *digest, uint64_t size, void *userdata),
                      void *userdata);

/* sha256 of a buffer as "sha256:<hex>" into out (at least 72 bytes). */
void digest_of_buffer(const void *data, size_t len, char out[72]);
