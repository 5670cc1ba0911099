#include "registry/oci-layout.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"

#define REF_NAME "org.opencontainers.image.ref.name"
#define INDEX_MAX (16u << 20)

static int load_index(const char *dir, json_t **ret, json_t **ret_manifests, struct berth_error *err)
{
    _cleanup_free_ char *path = fs_path_join(dir, "index.json");
    if (!path)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = json_load_path(path, INDEX_MAX, ret, err);
    if (r < 0)
        return r;
    json_t *m = NULL;
    if (!json_is_object(*ret) || (r = json_opt_array(*ret, "manifests", path, &m, err)) < 0 || !m) {
        json_decref(*ret);
        return r < 0 ? r : berth_error_set(err, -EINVAL, "%s: no manifests array", path);
    }
    *ret_manifests = m;
    return 0;
}

int oci_layout_open(const char *dir, bool create, struct blobstore **ret, struct berth_error *err)
{
    _cleanup_free_ char *marker = fs_path_join(dir, "oci-layout");
    _cleanup_free_ char *index = fs_path_join(dir, "index.json");
    if (!marker || !index)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (!fs_exists(marker)) {
        if (!create)
            return berth_error_set(err, -ENOENT, "%s: not an OCI image layout (no oci-layout file)", dir);
        int r = fs_mkdir_p(dir, 0755);
        if (r < 0)
            return berth_error_errno(err, r, "%s", dir);
        static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
        if ((r = fs_write_atomic(marker, layout, sizeof(layout) - 1, 0644, err)) < 0)
            return r;
    }
    if (!fs_exists(index)) {
        if (!create)
            return berth_error_set(err, -ENOENT, "%s: no index.json", dir);
        static const char empty[] = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                                    "\"manifests\":[]}";
        int r = fs_write_atomic(index, empty, sizeof(empty) - 1, 0644, err);
        if (r < 0)
            return r;
    }
    return blobstore_open(dir, ret, err);
}

int oci_layout_find(const char *dir, const char *tag, char ret_digest[72], char **ret_media_type, uint64_t *ret_size,
                    struct berth_error *err)
{
    _cleanup_json_ json_t *idx = NULL;
    json_t *ms = NULL;
    int r = load_index(dir, &idx, &ms, err);
    if (r < 0)
        return r;
    json_t *found = NULL;
    size_t i;
    json_t *d;
    json_array_foreach(ms, i, d) {
        const char *name = json_string_value(json_object_get(json_object_get(d, "annotations"), REF_NAME));
        if (tag ? (name && !strcmp(name, tag)) : true) {
            if (!tag && found)
                return berth_error_set(err, -EINVAL, "%s holds several images: name one with %s:TAG", dir, dir);
            found = d;
            if (tag)
                break;
        }
    }
    if (!found)
        return berth_error_set(err, -ENOENT, "%s: no image %s%s", dir, tag ? "named " : "", tag ? tag : "");
    const char *digest = json_string_value(json_object_get(found, "digest"));
    const char *mt = json_string_value(json_object_get(found, "mediaType"));
    json_t *size = json_object_get(found, "size");
    if (!digest_is_valid(digest) || !mt || !json_is_integer(size) || json_integer_value(size) < 0)
        return berth_error_set(err, -EINVAL, "%s/index.json: malformed descriptor for %s", dir, tag ? tag : "the image");
    char *m = strdup(mt);
    if (!m)
        return berth_error_set(err, -ENOMEM, "out of memory");
    memcpy(ret_digest, digest, 72);
    *ret_media_type = m;
    *ret_size = (uint64_t) json_integer_value(size);
    return 0;
}

int oci_layout_tag(const char *dir, const char *media_type, const char *digest, uint64_t size, const char *tag,
                   struct berth_error *err)
{
    _cleanup_json_ json_t *idx = NULL;
    json_t *ms = NULL;
    int r = load_index(dir, &idx, &ms, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < json_array_size(ms);) {
        const char *name = json_string_value(json_object_get(json_object_get(json_array_get(ms, i), "annotations"),
                                                             REF_NAME));
        if (name && !strcmp(name, tag))
            json_array_remove(ms, i);
        else
            i++;
    }
    json_t *d = json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType", media_type, "digest", digest, "size",
                          (json_int_t) size, "annotations", REF_NAME, tag);
    if (!d || json_array_append_new(ms, d) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_free_ char *path = fs_path_join(dir, "index.json");
    _cleanup_free_ char *text = json_dumps(idx, JSON_COMPACT);
    if (!path || !text)
        return berth_error_set(err, -ENOMEM, "out of memory");
    return fs_write_atomic(path, text, strlen(text), 0644, err);
}
