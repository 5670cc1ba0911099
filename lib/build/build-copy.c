/* COPY and ADD: files from the build context into a layer, confined to the context. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "build/build-internal.h"
#include "build/layer.h"
#include "image/image.h"

/* Normalises a path to components without ".", "..", or empty ones; *ret_escapes tells whether
 * ".." went above the start. The result has no leading or trailing '/' ("" for the root). */
static int normalize(const char *path, char **ret, bool *ret_escapes)
{
    _cleanup_free_ char *copy = strdup(path);
    _cleanup_free_ char *out = calloc(1, strlen(path) + 2);
    if (!copy || !out)
        return -ENOMEM;
    bool escapes = false;
    size_t n = 0;
    char *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, "."))
            continue;
        if (!strcmp(c, "..")) {
            if (n == 0) {
                escapes = true;
                continue;
            }
            char *slash = strrchr(out, '/');
            n = slash ? (size_t) (slash - out) : 0;
            out[n] = '\0';
            continue;
        }
        if (n)
            out[n++] = '/';
        strcpy(out + n, c);
        n += strlen(c);
    }
    *ret = TAKE_PTR(out);
    if (ret_escapes)
        *ret_escapes = escapes;
    return 0;
}

static int parse_chown(const char *v, long *uid, long *gid, struct berth_error *err)
{
    char *end;
    *uid = strtol(v, &end, 10);
    if (end == v || *uid < 0 || (*end && *end != ':'))
        return berth_error_set(err, -EINVAL, "--chown=%s: expected numeric UID[:GID]", v);
    *gid = *uid;
    if (*end == ':') {
        const char *g = end + 1;
        *gid = strtol(g, &end, 10);
        if (end == g || *gid < 0 || *end)
            return berth_error_set(err, -EINVAL, "--chown=%s: expected numeric UID[:GID]", v);
    }
    return 0;
}

int build_copy(struct build_state *st, const struct cf_instruction *in, bool hash_only, char ret_diff_id[72],
               char **ret_digest, uint64_t *ret_size, struct berth_error *err)
{
    _cleanup_strv_ char **words = NULL;
    if (in->exec) {
        size_t i;
        json_t *x;
        json_array_foreach(in->exec, i, x) if (strv_push(&words, json_string_value(x)) < 0) return -ENOMEM;
    } else if (cf_split_words(in->args, &words) < 0) {
        return berth_error_set(err, -EINVAL, "unbalanced quotes");
    }
    struct layer_tree_opts o = { .zero_mtime = hash_only, .uid = 0, .gid = 0 };
    size_t first = 0, n = strv_length(words);
    for (; first < n && !strncmp(words[first], "--", 2); first++) {
        if (!strncmp(words[first], "--chown=", 8)) {
            int r = parse_chown(words[first] + 8, &o.uid, &o.gid, err);
            if (r < 0)
                return r;
        } else {
            return berth_error_set(err, -EINVAL, "unsupported option '%s' (only --chown=UID[:GID])", words[first]);
        }
    }
    if (n - first < 2)
        return berth_error_set(err, -EINVAL, "expected SOURCE... DEST");
    _cleanup_free_ char *dest_raw = NULL;
    int r = build_expand(st, words[n - 1], &dest_raw);
    if (r < 0)
        return berth_error_set(err, r, "bad destination '%s'", words[n - 1]);
    bool dest_dir = n - first > 2 || dest_raw[strlen(dest_raw) - 1] == '/';
    const char *wd = json_string_value(json_object_get(json_object_get(st->config, "config"), "WorkingDir"));
    _cleanup_free_ char *joined = NULL;
    if (dest_raw[0] == '/')
        joined = strdup(dest_raw);
    else
        joined = fs_path_join(wd && *wd ? wd : "/", dest_raw);
    _cleanup_free_ char *dest = NULL;
    if (!joined || normalize(joined, &dest, NULL) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");

    struct layer_writer *lw = NULL;
    r = layer_writer_begin(hash_only ? NULL : image_store_blobs(st->is), &lw, err);
    if (r < 0)
        return r;
    for (size_t i = first; r == 0 && i < n - 1; i++) {
        _cleanup_free_ char *src_raw = NULL, *src = NULL;
        bool escapes = false;
        r = build_expand(st, words[i], &src_raw);
        if (r < 0) {
            r = berth_error_set(err, r, "bad source '%s'", words[i]);
            break;
        }
        if (strstr(src_raw, "://")) {
            r = berth_error_set(err, -EINVAL, "source '%s': URLs are not supported", src_raw);
            break;
        }
        if (normalize(src_raw, &src, &escapes) < 0) {
            r = berth_error_set(err, -ENOMEM, "out of memory");
            break;
        }
        if (escapes) {
            r = berth_error_set(err, -EPERM, "source '%s' is outside the build context", src_raw);
            break;
        }
        char *slash = strrchr(src, '/');
        _cleanup_free_ char *parent = slash ? strndup(src, (size_t) (slash - src)) : strdup(".");
        const char *base = slash ? slash + 1 : (*src ? src : ".");
        if (!parent) {
            r = berth_error_set(err, -ENOMEM, "out of memory");
            break;
        }
        /* RESOLVE_IN_ROOT: symlinks in the context cannot lead out of it either. */
        _cleanup_close_ int pfd = fs_open_in_root(st->context_fd, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0);
        struct stat sb;
        if (pfd < 0 || fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
            r = berth_error_set(err, -ENOENT, "source '%s' not found in the build context %s", src_raw,
                                st->opts->context);
            break;
        }
        _cleanup_free_ char *target = NULL;
        if (S_ISDIR(sb.st_mode) || !dest_dir) {
            target = strdup(dest);
        } else {
            const char *b = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
            target = *dest ? fs_path_join(dest, b) : strdup(b);
        }
        if (!target) {
            r = berth_error_set(err, -ENOMEM, "out of memory");
            break;
        }
        r = layer_writer_add_tree(lw, pfd, base, target, &o, err);
    }
    if (r < 0) {
        layer_writer_abort(lw);
        return r;
    }
    return layer_writer_finish(lw, ret_diff_id, ret_digest, ret_size, err);
}
