#include "registry/transfer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "base/cleanup.h"
#include "registry/client-internal.h"
#include "registry/manifest.h"

#define MAX_INDEX_DEPTH 4

void registry_platform_host(struct registry_platform *ret)
{
    memset(ret, 0, sizeof(*ret));
    snprintf(ret->os, sizeof(ret->os), "linux");
    struct utsname u;
    const char *m = uname(&u) == 0 ? u.machine : "x86_64";
    if (!strcmp(m, "x86_64"))
        snprintf(ret->arch, sizeof(ret->arch), "amd64");
    else if (!strcmp(m, "aarch64"))
        snprintf(ret->arch, sizeof(ret->arch), "arm64");
    else if (!strncmp(m, "armv7", 5)) {
        snprintf(ret->arch, sizeof(ret->arch), "arm");
        snprintf(ret->variant, sizeof(ret->variant), "v7");
    } else if (!strcmp(m, "i686") || !strcmp(m, "i386"))
        snprintf(ret->arch, sizeof(ret->arch), "386");
    else
        snprintf(ret->arch, sizeof(ret->arch), "%.31s", m);
}

int registry_platform_parse(const char *s, struct registry_platform *ret, struct berth_error *err)
{
    struct registry_platform p = { 0 };
    const char *a = strchr(s, '/');
    if (!a || a == s || !a[1])
        return berth_error_set(err, -EINVAL, "--platform '%s': expected OS/ARCH[/VARIANT]", s);
    const char *v = strchr(a + 1, '/');
    size_t oslen = (size_t) (a - s), archlen = v ? (size_t) (v - a - 1) : strlen(a + 1);
    if (oslen >= sizeof(p.os) || archlen == 0 || archlen >= sizeof(p.arch) || (v && (!v[1] || strlen(v + 1) >= sizeof(p.variant) || strchr(v + 1, '/'))))
        return berth_error_set(err, -EINVAL, "--platform '%s': expected OS/ARCH[/VARIANT]", s);
    memcpy(p.os, s, oslen);
    memcpy(p.arch, a + 1, archlen);
    if (v)
        snprintf(p.variant, sizeof(p.variant), "%s", v + 1);
    *ret = p;
    return 0;
}

static const struct manifest_ref *choose(const struct registry_manifest *idx, const struct registry_platform *p)
{
    const struct manifest_ref *best = NULL;
    for (size_t i = 0; i < idx->n_refs; i++) {
        const struct manifest_ref *r = &idx->refs[i];
        if (!r->os || !r->arch || strcmp(r->os, p->os) || strcmp(r->arch, p->arch))
            continue;
        if (p->variant[0] && (!r->variant || strcmp(r->variant, p->variant)))
            continue;
        if (!best)
            best = r;
    }
    return best;
}

/* Fetches a manifest by ref and keeps it in dst. */
static int fetch_manifest(struct registry_client *c, const char *repo, const char *ref, struct blobstore *dst,
                          struct registry_manifest **ret, char ret_digest[72], char **ret_mt, size_t *ret_len,
                          struct berth_error *err)
{
    _cleanup_free_ char *data = NULL, *mt = NULL;
    size_t len = 0;
    int r = registry_client_get_manifest(c, repo, ref, &data, &len, &mt, ret_digest, err);
    if (r < 0)
        return r;
    if ((r = manifest_parse(data, len, mt && mt[0] ? mt : NULL, ret, err)) < 0)
        return berth_error_prefix(err, r, "%s:%s", repo, ref);
    if ((r = blobstore_put(dst, data, len, ret_digest, NULL, err)) < 0) {
        manifest_free(*ret);
        *ret = NULL;
        return r;
    }
    *ret_mt = TAKE_PTR(mt);
    if (!(*ret_mt)[0]) {
        free(*ret_mt);
        *ret_mt = strdup((*ret)->media_type);
    }
    *ret_len = len;
    return 0;
}

int registry_pull(struct registry_client *c, const char *repo, const char *ref, const struct registry_platform *p,
                  struct blobstore *dst, struct registry_pulled *ret, struct berth_error *err)
{
    struct registry_pulled out = { 0 };
    _cleanup_manifest_ struct registry_manifest *m = NULL;
    _cleanup_free_ char *mt = NULL;
    size_t len = 0;
    char digest[72];
    int r = fetch_manifest(c, repo, ref, dst, &m, digest, &mt, &len, err);
    if (r < 0)
        return r;
    memcpy(out.top_digest, digest, 72);
    for (int depth = 0; m->is_index; depth++) {
        const struct manifest_ref *pick = choose(m, p);
        if (!pick || depth >= MAX_INDEX_DEPTH)
            return berth_error_set(err, -ENOENT, "%s/%s:%s has no image for platform %s/%s%s%s", c->host, repo, ref,
                                   p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
        char child[72];
        memcpy(child, pick->digest, 72);
        manifest_free(TAKE_PTR(m));
        free(TAKE_PTR(mt));
        if ((r = fetch_manifest(c, repo, child, dst, &m, digest, &mt, &len, err)) < 0)
            return r;
    }
    for (size_t i = 0; i < m->n_refs; i++) {
        const struct manifest_ref *b = &m->refs[i];
        uint64_t have = 0;
        if (blobstore_has(dst, b->digest, &have) > 0 && have == (uint64_t) b->size) {
            out.blobs_present++;
            continue;
        }
        if ((r = registry_client_get_blob(c, repo, b->digest, (uint64_t) b->size, dst, err)) < 0)
            return r;
        out.blobs_fetched++;
        out.bytes_fetched += (uint64_t) b->size;
    }
    memcpy(out.digest, digest, 72);
    snprintf(out.media_type, sizeof(out.media_type), "%s", mt);
    out.size = len;
    *ret = out;
    return 0;
}

static int push_one(struct registry_client *c, struct blobstore *src, const char *digest, const char *media_type,
                    const char *repo, const char *tag, const char *mount_from, int depth, struct registry_pushed *st,
                    struct berth_error *err)
{
    if (depth > MAX_INDEX_DEPTH)
        return berth_error_set(err, -ELOOP, "indexes nested too deeply");
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = blobstore_read(src, digest, REGISTRY_MANIFEST_MAX, &data, &len, err);
    if (r < 0)
        return r;
    _cleanup_manifest_ struct registry_manifest *m = NULL;
    if ((r = manifest_parse(data, len, media_type, &m, err)) < 0)
        return berth_error_prefix(err, r, "%s", digest);
    for (size_t i = 0; i < m->n_refs; i++) {
        const struct manifest_ref *b = &m->refs[i];
        if (b->kind == MREF_MANIFEST) {
            if (blobstore_has(src, b->digest, NULL) <= 0)
                return berth_error_set(err, -ENOENT, "index %s: manifest %s (%s/%s) is not stored locally", digest,
                                       b->digest, b->os ? b->os : "?", b->arch ? b->arch : "?");
            r = push_one(c, src, b->digest, b->media_type, repo, NULL, mount_from, depth + 1, st, err);
        } else {
            r = registry_client_put_blob(c, repo, b->digest, src, mount_from, err);
            if (r > 0)
                st->blobs_uploaded++;
            else if (r == 0)
                st->blobs_skipped++;
        }
        if (r < 0)
            return r;
    }
    return registry_client_put_manifest(c, repo, tag ? tag : digest, data, len, m->media_type, err);
}

int registry_push(struct registry_client *c, struct blobstore *src, const char *digest, const char *media_type,
                  const char *repo, const char *tag, const char *mount_from, struct registry_pushed *ret,
                  struct berth_error *err)
{
    struct registry_pushed st = { 0 };
    int r = push_one(c, src, digest, media_type, repo, tag, mount_from, 0, &st, err);
    if (r < 0)
        return r;
    *ret = st;
    return 0;
}
