/* COPY and ADD: files from the build context (minus what .dockerignore excludes), or with
 * --from=STAGE|INDEX|IMAGE from another stage's or image's root filesystem, into a layer. Sources
 * may hold wildcards. Every path is resolved inside its root (context or image). */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "build/build-internal.h"
#include "build/layer.h"
#include "image/image.h"
#include "image/mount.h"

#define GLOB_MATCHES_MAX 100000

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

static bool has_wildcard(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Appends to *out every path below root_fd matching the normalized pattern's components from
 * comp on (prefix: the path matched so far). Dot files match '*' as in Docker. */
static int glob_walk(int root_fd, const char *prefix, char **comps, size_t n, size_t comp,
                     const struct build_ignore *ig, char ***out)
{
    if (comp == n)
        return strv_length(*out) >= GLOB_MATCHES_MAX ? -E2BIG : strv_push(out, prefix);
    if (!has_wildcard(comps[comp])) {
        _cleanup_free_ char *next = *prefix ? fs_path_join(prefix, comps[comp]) : strdup(comps[comp]);
        if (!next)
            return -ENOMEM;
        _cleanup_close_ int fd = fs_open_in_root(root_fd, next, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, 0);
        if (fd < 0)
            return 0;
        return glob_walk(root_fd, next, comps, n, comp + 1, ig, out);
    }
    _cleanup_close_ int dfd = fs_open_in_root(root_fd, *prefix ? prefix : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                                              0, 0);
    if (dfd < 0)
        return 0;
    _cleanup_closedir_ DIR *d = fdopendir(dfd);
    if (!d)
        return -errno;
    dfd = -1;
    _cleanup_strv_ char **names = NULL;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && fnmatch(comps[comp], de->d_name, 0) == 0 &&
            strv_push(&names, de->d_name) < 0)
            return -ENOMEM;
    size_t k = strv_length(names);
    if (k)
        qsort(names, k, sizeof(char *), cmp_str);
    for (size_t i = 0; i < k; i++) {
        _cleanup_free_ char *next = *prefix ? fs_path_join(prefix, names[i]) : strdup(names[i]);
        if (!next)
            return -ENOMEM;
        int r = glob_walk(root_fd, next, comps, n, comp + 1, ig, out);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The context-relative sources one COPY argument names: itself, or its wildcard matches. */
static int expand_source(int root_fd, const struct build_ignore *ig, const char *src,
                         const char *src_raw, char ***ret, struct berth_error *err)
{
    if (!has_wildcard(src)) {
        return strv_push(ret, src) < 0 ? -ENOMEM : 0;
    }
    _cleanup_free_ char *copy = strdup(src);
    char *comps[256];
    size_t n = 0;
    char *save = NULL;
    if (!copy)
        return -ENOMEM;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (n == 256)
            return berth_error_set(err, -EINVAL, "source '%s': too many path components", src_raw);
        comps[n++] = c;
    }
    _cleanup_strv_ char **found = NULL;
    int r = glob_walk(root_fd, "", comps, n, 0, ig, &found);
    if (r < 0)
        return berth_error_errno(err, r, "source '%s'", src_raw);
    size_t kept = 0;
    for (char **f = found; f && *f; f++) {
        struct stat sb;
        bool is_dir = fstatat(root_fd, *f, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
        if (build_ignore_check(ig, *f, is_dir) == IGNORE_EXCLUDED)
            continue;
        if (strv_push(ret, *f) < 0)
            return -ENOMEM;
        kept++;
    }
    if (!kept)
        return berth_error_set(err, -ENOENT, "source '%s': no file matches", src_raw);
    return 0;
}

struct copy_args {
    char **sources;      /* as written (expanded for variables later) */
    const char *dest_raw;
    bool dest_dir;
    struct layer_tree_opts o;
    const char *where;   /* "the build context DIR", "stage 'x'", "image 'y'" */
    /* COPY <<EOF: the files made from the heredocs (named after their delimiters) in heredoc_fd;
     * the "<<" words of sources stand for them. NULL: none. */
    const struct cf_instruction *heredocs;
    int heredoc_fd;
};

/* Writes (or hashes) the layer from root_fd: the part shared by context and --from copies. */
static int copy_from_root(struct build_state *st, int root_fd, const struct build_ignore *ig,
                          const struct copy_args *a, const char *dest, bool hash_only, char ret_diff_id[72],
                          char **ret_digest, uint64_t *ret_size, struct berth_error *err)
{
    /* Wildcards first: several matches need a directory destination, as in Docker. */
    _cleanup_strv_ char **srcs = NULL;
    int r = 0;
    for (char **s = a->sources; *s; s++) {
        _cleanup_free_ char *src_raw = NULL, *src = NULL;
        if (a->heredocs && !strncmp(*s, "<<", 2))
            continue;
        bool escapes = false;
        if ((r = build_expand(st, *s, &src_raw)) < 0)
            return berth_error_set(err, r, "bad source '%s'", *s);
        if (strstr(src_raw, "://"))
            return berth_error_set(err, -EINVAL, "source '%s': URLs are not supported", src_raw);
        if (normalize(src_raw, &src, &escapes) < 0)
            return -ENOMEM;
        if (escapes)
            return berth_error_set(err, -EPERM, "source '%s' is outside %s", src_raw, a->where);
        if ((r = expand_source(root_fd, ig, src, src_raw, &srcs, err)) < 0)
            return r;
    }
    bool dest_dir = a->dest_dir;
    size_t n_heredocs = a->heredocs ? a->heredocs->n_heredocs : 0;
    if (strv_length(srcs) + n_heredocs > 1 && !dest_dir)
        return berth_error_set(err, -EINVAL, "several sources: the destination '%s' must end with '/'", a->dest_raw);

    struct layer_writer *lw = NULL;
    r = layer_writer_begin(hash_only ? NULL : image_store_blobs(st->is), &lw, err);
    if (r < 0)
        return r;
    for (size_t k = 0; r == 0 && k < n_heredocs; k++) {
        const char *name = a->heredocs->heredocs[k].name;
        _cleanup_free_ char *target = !dest_dir ? strdup(dest) : *dest ? fs_path_join(dest, name) : strdup(name);
        if (!target) {
            r = -ENOMEM;
            break;
        }
        r = layer_writer_add_tree(lw, a->heredoc_fd, name, target, &a->o, err);
    }
    for (char **s = srcs; r == 0 && s && *s; s++) {
        const char *src = *s;
        char *slash = strrchr(src, '/');
        _cleanup_free_ char *parent = slash ? strndup(src, (size_t) (slash - src)) : strdup(".");
        const char *base = slash ? slash + 1 : (*src ? src : ".");
        if (!parent) {
            r = -ENOMEM;
            break;
        }
        /* RESOLVE_IN_ROOT: symlinks in the context or image cannot lead out of it. */
        _cleanup_close_ int pfd = fs_open_in_root(root_fd, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0);
        struct stat sb;
        if (pfd < 0 || fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
            build_ignore_check(ig, src, S_ISDIR(sb.st_mode)) == IGNORE_EXCLUDED) {
            r = berth_error_set(err, -ENOENT, "source '%s' not found in %s", *src ? src : ".", a->where);
            break;
        }
        _cleanup_free_ char *target = NULL;
        if (S_ISDIR(sb.st_mode) || !dest_dir)
            target = strdup(dest);
        else
            target = *dest ? fs_path_join(dest, base) : strdup(base);
        if (!target) {
            r = -ENOMEM;
            break;
        }
        struct layer_tree_opts o = a->o;
        o.ignore = ig;
        o.src = src;
        r = layer_writer_add_tree(lw, pfd, base, target, &o, err);
    }
    if (r < 0) {
        layer_writer_abort(lw);
        return r == -ENOMEM ? berth_error_set(err, r, "out of memory") : r;
    }
    return layer_writer_finish(lw, ret_diff_id, ret_digest, ret_size, err);
}

/* What --from names: an earlier stage (by name or index), else an image in the store. */
static int resolve_from(struct build_state *st, const char *from, char **ret_image, char **ret_where,
                        struct berth_error *err)
{
    for (size_t i = 0; i < st->n_stages; i++) {
        char idx[24];
        snprintf(idx, sizeof(idx), "%zu", i);
        if ((st->stages[i].name && !strcasecmp(st->stages[i].name, from)) || !strcmp(idx, from)) {
            if (!st->stages[i].image)
                return berth_error_set(err, -EINVAL, "--from=%s: that stage was skipped", from);
            *ret_image = strdup(st->stages[i].image);
            if (asprintf(ret_where, "stage '%s'", from) < 0)
                *ret_where = NULL;
            return *ret_image && *ret_where ? 0 : -ENOMEM;
        }
    }
    if (st->cur_stage_name && !strcasecmp(st->cur_stage_name, from))
        return berth_error_set(err, -EINVAL, "--from=%s: a stage cannot copy from itself", from);
    _cleanup_image_ struct image *img = NULL;
    struct berth_error probe = { 0 };
    if (image_lookup(st->is, from, &img, &probe) < 0)
        return berth_error_set(err, -ENOENT, "--from=%s: no earlier stage and no image of that name", from);
    *ret_image = strdup(img->digest);
    if (asprintf(ret_where, "image '%s'", from) < 0)
        *ret_where = NULL;
    return *ret_image && *ret_where ? 0 : -ENOMEM;
}

struct copy_reply {
    int r;
    char diff_id[72];
    char digest[80];
    uint64_t size;
    char message[1024];
};

/* --from: the image's root filesystem is mounted read-only in a child's private mount namespace,
 * so no mount outlives the copy whatever happens to berth. The child writes the layer (or the
 * hash) and replies through a pipe. */
static int copy_from_image(struct build_state *st, const char *image, const struct copy_args *a, const char *dest,
                           bool hash_only, char ret_diff_id[72], char **ret_digest, uint64_t *ret_size,
                           struct berth_error *err)
{
    const char *tmp = getenv("TMPDIR");
    _cleanup_free_ char *mnt = NULL;
    if (asprintf(&mnt, "%s/berth-copy-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
        return -ENOMEM;
    if (!mkdtemp(mnt))
        return berth_error_errno(err, -errno, "creating a mount point for %s", a->where);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        rmdir(mnt);
        return berth_error_errno(err, -errno, "pipe");
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        rmdir(mnt);
        return berth_error_errno(err, -errno, "fork");
    }
    if (pid == 0) {
        close(pipefd[0]);
        struct copy_reply rep = { 0 };
        struct berth_error cerr = { 0 };
        struct image_store *is = NULL;
        struct image *img = NULL;
        char *digest = NULL;
        int r = 0;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            r = berth_error_errno(&cerr, -errno, "private mount namespace");
        /* A connection of our own: the parent's SQLite handle must not be used across fork. */
        if (r == 0)
            r = image_store_open(NULL, &is, &cerr);
        if (r == 0)
            r = image_lookup(is, image, &img, &cerr);
        if (r == 0)
            r = image_mount_rootfs(is, img, NULL, NULL, mnt, &cerr);
        int root_fd = r == 0 ? open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        if (r == 0 && root_fd < 0)
            r = berth_error_errno(&cerr, -errno, "opening %s", mnt);
        if (r == 0) {
            struct image_store *saved = st->is;
            st->is = is;
            r = copy_from_root(st, root_fd, NULL, a, dest, hash_only, rep.diff_id, hash_only ? NULL : &digest,
                               &rep.size, &cerr);
            st->is = saved;
        }
        rep.r = r;
        if (digest)
            snprintf(rep.digest, sizeof(rep.digest), "%s", digest);
        if (r < 0)
            snprintf(rep.message, sizeof(rep.message), "%s", berth_error_message(&cerr));
        ssize_t w = write(pipefd[1], &rep, sizeof(rep));
        _exit(w == (ssize_t) sizeof(rep) ? 0 : 1);
    }
    close(pipefd[1]);
    struct copy_reply rep = { .r = -EIO };
    ssize_t got;
    do
        got = read(pipefd[0], &rep, sizeof(rep));
    while (got < 0 && errno == EINTR);
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    rmdir(mnt);
    if (got != (ssize_t) sizeof(rep))
        return berth_error_set(err, -EIO, "copying from %s: the helper process failed", a->where);
    if (rep.r < 0)
        return berth_error_set(err, rep.r, "%s", rep.message);
    memcpy(ret_diff_id, rep.diff_id, 72);
    if (ret_digest && !(*ret_digest = strdup(rep.digest)))
        return -ENOMEM;
    if (ret_size)
        *ret_size = rep.size;
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
    struct copy_args a = { .o = { .zero_mtime = hash_only, .uid = 0, .gid = 0 } };
    const char *from = NULL;
    size_t first = 0, n = strv_length(words);
    for (; first < n && !strncmp(words[first], "--", 2); first++) {
        if (!strncmp(words[first], "--chown=", 8)) {
            int r = parse_chown(words[first] + 8, &a.o.uid, &a.o.gid, err);
            if (r < 0)
                return r;
        } else if (!strncmp(words[first], "--chmod=", 8)) {
            char *end;
            unsigned long m = strtoul(words[first] + 8, &end, 8);
            if (!words[first][8] || *end || m > 07777)
                return berth_error_set(err, -EINVAL, "%s: expected an octal mode (e.g. --chmod=755)", words[first]);
            a.o.has_mode = true;
            a.o.mode = (unsigned) m;
        } else if (!strncmp(words[first], "--from=", 7) && in->op == CF_COPY && words[first][7]) {
            from = words[first] + 7;
        } else {
            return berth_error_set(err, -EINVAL, "unsupported option '%s' (only --chown=UID[:GID], --chmod=MODE%s)",
                                   words[first], in->op == CF_COPY ? " and --from=STAGE|IMAGE" : "");
        }
    }
    if (n - first < 2)
        return berth_error_set(err, -EINVAL, "expected SOURCE... DEST");
    _cleanup_free_ char *dest_raw = NULL;
    int r = build_expand(st, words[n - 1], &dest_raw);
    if (r < 0)
        return berth_error_set(err, r, "bad destination '%s'", words[n - 1]);
    a.dest_raw = dest_raw;
    a.dest_dir = n - first > 2 || dest_raw[strlen(dest_raw) - 1] == '/';
    const char *wd = json_string_value(json_object_get(json_object_get(st->config, "config"), "WorkingDir"));
    _cleanup_free_ char *joined = NULL;
    if (dest_raw[0] == '/')
        joined = strdup(dest_raw);
    else
        joined = fs_path_join(wd && *wd ? wd : "/", dest_raw);
    _cleanup_free_ char *dest = NULL;
    if (!joined || normalize(joined, &dest, NULL) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    free(words[n - 1]);
    words[n - 1] = NULL; /* the sources alone, NULL-terminated */
    a.sources = words + first;
    size_t n_heredoc_words = 0;
    for (char **w = a.sources; *w; w++)
        if (!strncmp(*w, "<<", 2))
            n_heredoc_words++;
    if (n_heredoc_words != in->n_heredocs)
        return berth_error_set(err, -EINVAL, "a quoted '<<' source is not a heredoc");
    if (n_heredoc_words && from)
        return berth_error_set(err, -EINVAL, "--from cannot copy heredocs");
    if (from) {
        _cleanup_free_ char *image = NULL, *where = NULL;
        _cleanup_free_ char *from_x = NULL;
        if ((r = build_expand(st, from, &from_x)) < 0)
            return berth_error_set(err, r, "bad --from '%s'", from);
        if ((r = resolve_from(st, from_x, &image, &where, err)) < 0)
            return r;
        a.where = where;
        return copy_from_image(st, image, &a, dest, hash_only, ret_diff_id, ret_digest, ret_size, err);
    }
    _cleanup_free_ char *where = NULL;
    if (asprintf(&where, "the build context %s", st->opts->context) < 0)
        return -ENOMEM;
    a.where = where;
    _cleanup_free_ char *heredoc_dir = NULL;
    _cleanup_close_ int heredoc_fd = -1;
    if (in->n_heredocs) {
        if ((r = build_heredoc_files(st, in, &heredoc_dir, &heredoc_fd, err)) < 0)
            return r;
        a.heredocs = in;
        a.heredoc_fd = heredoc_fd;
    }
    r = copy_from_root(st, st->context_fd, st->ignore, &a, dest, hash_only, ret_diff_id, ret_digest, ret_size, err);
    if (heredoc_dir)
        fs_rm_rf(heredoc_dir);
    return r;
}
