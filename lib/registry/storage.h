/* The registry's repositories over the shared blob store: which blobs and manifests each
 * repository holds, its tags, and the subject links for the referrers API, in berth.db (tables
 * registry_*). Blob content lives once in <root>/blobs/sha256, shared with the image store.
 * Thread-safe: one connection behind a mutex (statements are short; content never passes here). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "image/blobstore.h"
#include "registry/manifest.h"

struct registry_storage;

int registry_storage_open(const char *root, struct registry_storage **ret, struct berth_error *err);
void registry_storage_free(struct registry_storage *s);
struct blobstore *registry_storage_blobs(struct registry_storage *s);

/* 1 when repo holds digest (as a blob or a manifest) and its content is present, 0 when not. */
int registry_blob_linked(struct registry_storage *s, const char *repo, const char *digest, uint64_t *ret_size);
/* Records that repo holds digest. owned: the registry brought this content into the blob store
 * (only such blobs are ever garbage-collected: the image store's blobs are not ours to delete). */
int registry_blob_link(struct registry_storage *s, const char *repo, const char *digest, bool owned,
                       struct berth_error *err);
/* 0, or -ENOENT when repo did not hold the blob. */
int registry_blob_unlink(struct registry_storage *s, const char *repo, const char *digest, struct berth_error *err);
/* Links digest into repo when repository from holds it: 1 mounted, 0 not available there. */
int registry_blob_mount(struct registry_storage *s, const char *repo, const char *from, const char *digest,
                        struct berth_error *err);

/* Records a manifest (its content already in the blob store) and optionally tags it. Every
 * descriptor it references must be held by repo: otherwise -ENOENT naming the missing digest
 * (MANIFEST_BLOB_UNKNOWN). */
int registry_manifest_put(struct registry_storage *s, const char *repo, const char *tag, const char *digest,
                          uint64_t size, const struct registry_manifest *m, bool owned, struct berth_error *err);
/* Resolves a tag or digest: 1 found (digest, malloc'd media type, size), 0 unknown. */
int registry_manifest_resolve(struct registry_storage *s, const char *repo, const char *ref, char ret_digest[72],
                              char **ret_media_type, uint64_t *ret_size);
/* Deleting a digest removes the manifest and the tags pointing at it; deleting a tag only the tag.
 * -ENOENT when unknown. */
int registry_manifest_delete(struct registry_storage *s, const char *repo, const char *ref, struct berth_error *err);

/* Up to n (0: all) names after last (NULL: from the start) in lexical order; *ret_more when
 * more follow. 0 when the repository is unknown to the registry for tags: -ENOENT. */
int registry_tags_list(struct registry_storage *s, const char *repo, const char *last, uint64_t n, json_t **ret,
                       bool *ret_more);
int registry_catalog(struct registry_storage *s, const char *last, uint64_t n, json_t **ret, bool *ret_more);

/* Descriptors of the manifests of repo whose subject is digest, optionally only artifactType. */
int registry_referrers(struct registry_storage *s, const char *repo, const char *digest, const char *artifact_type,
                       json_t **ret);

/* Upload sessions outlive the server: each is a row of registry_uploads (id, repository, start)
 * and the staging file blobs/.staging/session-<id> holding what arrived so far. */
#define REGISTRY_UPLOAD_PREFIX "session-"
#define REGISTRY_UPLOAD_NAME_MAX 64
void registry_upload_file_name(const char *id, char out[REGISTRY_UPLOAD_NAME_MAX]);
int registry_upload_record(struct registry_storage *s, const char *id, const char *repo, struct berth_error *err);
/* 1 when session id exists and belongs to repo, 0 when not. */
int registry_upload_lookup(struct registry_storage *s, const char *id, const char *repo);
int registry_upload_forget(struct registry_storage *s, const char *id);
/* Ends the sessions whose staging file is gone or untouched since before cutoff (file and
 * record); counts the files removed and their bytes into *ret_count and *ret_bytes (may be NULL). */
int registry_uploads_expire(struct registry_storage *s, time_t cutoff, bool dry_run, uint64_t *ret_count,
                            uint64_t *ret_bytes);

/* Whether any repository of a registry on the state database db holds or references digest:
 * 1 yes, 0 no (also when no registry ever ran on it). For the image store's prune, which must
 * not delete what a registry on the same root serves. */
struct store;
int registry_store_references(struct store *db, const char *digest);

struct registry_gc_stats {
    uint64_t blobs_removed;
    uint64_t bytes_removed;
    uint64_t links_removed;
    uint64_t staging_removed;   /* abandoned upload files (untouched for max(grace, 1h)) */
};

/* Removes blobs the registry brought in that no manifest of any repository references, and
 * blob links nothing references, once older than grace_seconds (so a push in flight, whose
 * layers arrive before its manifest, is never collected). Each removal is one transaction that
 * re-checks references, so it is safe while a server writes to the same root. */
int registry_gc(struct registry_storage *s, int64_t grace_seconds, bool dry_run, struct registry_gc_stats *ret,
                struct berth_error *err);
/* Like registry_gc; in_use (may be NULL) vetoes removing a blob file others (the image store) use. */
int registry_gc_with(struct registry_storage *s, int64_t grace_seconds, bool dry_run,
                     int (*in_use)(const char *digest, void *userdata), void *userdata,
                     struct registry_gc_stats *ret, struct berth_error *err);
