/* Manifest endpoints (GET/HEAD/PUT/DELETE by tag or digest), tags list, catalog, referrers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "image/blobstore.h"
#include "registry/manifest.h"
#include "registry/reference.h"
#include "registry/server-internal.h"

#define LIST_PAGE_MAX 10000

static bool ref_is_valid(const char *ref)
{
    return digest_is_valid(ref) || registry_tag_is_valid(ref);
}

enum MHD_Result manifest_get(struct registry_server *s, struct MHD_Connection *c, struct request *req, bool head)
{
    const char *ref = req->route.ref;
    if (!ref_is_valid(ref))
        return respond_error(s, c, req, 404, "MANIFEST_UNKNOWN", "manifest unknown: not a tag or digest", NULL);
    char digest[72];
    _cleanup_free_ char *mt = NULL;
    uint64_t size = 0;
    int r = registry_manifest_resolve(s->storage, req->route.name, ref, digest, &mt, &size);
    if (r < 0)
        return respond_error(s, c, req, 500, "UNKNOWN", "storage error", NULL);
    if (r == 0)
        return respond_error(s, c, req, 404, "MANIFEST_UNKNOWN", "manifest unknown to registry", NULL);
    char *data = NULL;
    size_t len = 0;
    r = blobstore_read(registry_storage_blobs(s->storage), digest, REGISTRY_MANIFEST_MAX, &data, &len, NULL);
    if (r < 0)
        return respond_error(s, c, req, 404, "MANIFEST_UNKNOWN", "manifest content missing or corrupt", NULL);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", mt);
    MHD_add_response_header(resp, "Docker-Content-Digest", digest);
    char etag[REGISTRY_PATH_MAX + 8];
    snprintf(etag, sizeof(etag), "\"%s\"", digest);
    MHD_add_response_header(resp, "ETag", etag);
    req->resp_size = head ? 0 : len;
    return respond(c, req, 200, resp);
}

enum MHD_Result manifest_put_finish(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    const char *ref = req->route.ref;
    const char *repo = req->route.name;
    bool by_digest = digest_is_valid(ref);
    if (!by_digest && !registry_tag_is_valid(ref))
        return respond_error(s, c, req, 400, "TAG_INVALID", "invalid tag", NULL);
    if (req->too_large)
        return respond_error(s, c, req, 413, "SIZE_INVALID", "manifest larger than 4 MiB", NULL);
    if (req->body_error)
        return respond_error(s, c, req, 500, "UNKNOWN", "cannot read the manifest", NULL);
    if (!req->buf || req->len == 0)
        return respond_error(s, c, req, 400, "MANIFEST_INVALID", "empty manifest", NULL);
    char digest[72];
    digest_of_buffer(req->buf, req->len, digest);
    if (by_digest && strcmp(digest, ref))
        return respond_error(s, c, req, 400, "DIGEST_INVALID", "manifest content does not match the digest in the URL",
                             ref);
    struct berth_error err = { 0 };
    _cleanup_manifest_ struct registry_manifest *m = NULL;
    int r = manifest_parse(req->buf, req->len, header(c, "Content-Type"), &m, &err);
    if (r < 0)
        return respond_error(s, c, req, 400, "MANIFEST_INVALID", berth_error_message(&err), NULL);
    struct blobstore *bs = registry_storage_blobs(s->storage);
    bool owned = blobstore_has(bs, digest, NULL) <= 0;
    r = blobstore_put(bs, req->buf, req->len, digest, NULL, &err);
    if (r == -ENOSPC || r == -EDQUOT)
        return respond_error(s, c, req, 507, "MANIFEST_INVALID", "no space left on the registry's storage", NULL);
    if (r < 0)
        return respond_error(s, c, req, 500, "UNKNOWN", "cannot store the manifest", NULL);
    r = registry_manifest_put(s->storage, repo, by_digest ? NULL : ref, digest, req->len, m, owned, &err);
    if (r == -ENOENT) {
        /* err names the missing digest; find it again for the detail field */
        const char *missing = NULL;
        for (size_t i = 0; i < m->n_refs && !missing; i++)
            if (strstr(err.msg, m->refs[i].digest))
                missing = m->refs[i].digest;
        return respond_error(s, c, req, 400, "MANIFEST_BLOB_UNKNOWN", berth_error_message(&err), missing);
    }
    if (r < 0)
        return respond_error(s, c, req, 500, "UNKNOWN", "cannot record the manifest", NULL);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    char loc[REGISTRY_PATH_MAX + 128];
    snprintf(loc, sizeof(loc), "/v2/%s/manifests/%s", repo, digest);
    MHD_add_response_header(resp, "Location", loc);
    MHD_add_response_header(resp, "Docker-Content-Digest", digest);
    if (m->subject[0])
        MHD_add_response_header(resp, "OCI-Subject", m->subject);
    return respond(c, req, 201, resp);
}

enum MHD_Result manifest_delete(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    const char *ref = req->route.ref;
    if (!ref_is_valid(ref))
        return respond_error(s, c, req, 404, "MANIFEST_UNKNOWN", "manifest unknown: not a tag or digest", NULL);
    int r = registry_manifest_delete(s->storage, req->route.name, ref, NULL);
    if (r == -ENOENT)
        return respond_error(s, c, req, 404, "MANIFEST_UNKNOWN", "manifest unknown to registry", NULL);
    if (r < 0)
        return respond_error(s, c, req, 500, "UNKNOWN", "storage error", NULL);
    return respond_empty(c, req, 202);
}

/* n and last of a paged list; false (and a 400 queued) when n is malformed. */
static bool page_params(struct registry_server *s, struct MHD_Connection *c, struct request *req, uint64_t *ret_n,
                        const char **ret_last, bool *ret_empty, enum MHD_Result *ret)
{
    const char *ns = query(c, "n");
    *ret_n = LIST_PAGE_MAX;
    *ret_empty = false;
    if (ns) {
        if (!registry_parse_u64(ns, ret_n)) {
            *ret = respond_error(s, c, req, 400, "PAGINATION_NUMBER_INVALID", "n must be a non-negative number", NULL);
            return false;
        }
        if (*ret_n == 0)
            *ret_empty = true;
        if (*ret_n > LIST_PAGE_MAX)
            *ret_n = LIST_PAGE_MAX;
    }
    *ret_last = query(c, "last");
    return true;
}

static void add_next_link(struct MHD_Response *resp, const char *path, uint64_t n, json_t *list)
{
    size_t k = json_array_size(list);
    if (!k)
        return;
    const char *last = json_string_value(json_array_get(list, k - 1));
    char link[REGISTRY_PATH_MAX * 2];
    snprintf(link, sizeof(link), "<%s?n=%llu&last=%s>; rel=\"next\"", path, (unsigned long long) n, last);
    MHD_add_response_header(resp, "Link", link);
}

enum MHD_Result tags_list(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    uint64_t n;
    const char *last;
    bool empty;
    enum MHD_Result ret;
    if (!page_params(s, c, req, &n, &last, &empty, &ret))
        return ret;
    _cleanup_json_ json_t *tags = NULL;
    bool more = false;
    int r = registry_tags_list(s->storage, req->route.name, last, n, &tags, &more);
    if (r == -ENOENT)
        return respond_error(s, c, req, 404, "NAME_UNKNOWN", "repository name not known to registry", NULL);
    if (r < 0)
        return respond_error(s, c, req, 500, "UNKNOWN", "storage error", NULL);
    if (empty) {
        json_array_clear(tags);
        more = false;
    }
    _cleanup_json_ json_t *body = json_pack("{s:s, s:O}", "name", req->route.name, "tags", tags);
    struct MHD_Response *resp = NULL;
    if (!body || respond_json(c, req, 200, "application/json", body, &resp) != MHD_YES)
        return MHD_NO;
    if (more) {
        char path[REGISTRY_PATH_MAX + 32];
        snprintf(path, sizeof(path), "/v2/%s/tags/list", req->route.name);
        add_next_link(resp, path, n, tags);
    }
    return respond(c, req, 200, resp);
}

enum MHD_Result catalog_list(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    uint64_t n;
    const char *last;
    bool empty;
    enum MHD_Result ret;
    if (!page_params(s, c, req, &n, &last, &empty, &ret))
        return ret;
    _cleanup_json_ json_t *repos = NULL;
    bool more = false;
    if (registry_catalog(s->storage, last, n, &repos, &more) < 0)
        return respond_error(s, c, req, 500, "UNKNOWN", "storage error", NULL);
    if (empty) {
        json_array_clear(repos);
        more = false;
    }
    _cleanup_json_ json_t *body = json_pack("{s:O}", "repositories", repos);
    struct MHD_Response *resp = NULL;
    if (!body || respond_json(c, req, 200, "application/json", body, &resp) != MHD_YES)
        return MHD_NO;
    if (more)
        add_next_link(resp, "/v2/_catalog", n, repos);
    return respond(c, req, 200, resp);
}

enum MHD_Result referrers_list(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    const char *digest = req->route.ref;
    if (!digest_is_valid(digest))
        return respond_error(s, c, req, 400, "DIGEST_INVALID", "invalid digest (sha256 only)", NULL);
    const char *at = query(c, "artifactType");
    _cleanup_json_ json_t *list = NULL;
    if (registry_referrers(s->storage, req->route.name, digest, at, &list) < 0)
        return respond_error(s, c, req, 500, "UNKNOWN", "storage error", NULL);
    _cleanup_json_ json_t *body = json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
                                            "manifests", list);
    struct MHD_Response *resp = NULL;
    if (!body || respond_json(c, req, 200, MT_OCI_INDEX, body, &resp) != MHD_YES)
        return MHD_NO;
    if (at)
        MHD_add_response_header(resp, "OCI-Filters-Applied", "artifactType");
    return respond(c, req, 200, resp);
}
