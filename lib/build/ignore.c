#include "build/ignore.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"

#define IGNORE_FILE_MAX (1u << 20)
#define COMPONENTS_MAX 256

struct build_ignore {
    char **patterns; /* cleaned, '!' kept as the first character */
    bool has_exceptions;
};

void build_ignore_free(struct build_ignore *ig)
{
    if (!ig)
        return;
    strv_free(ig->patterns);
    free(ig);
}

/* Splits p at '/' into at most COMPONENTS_MAX components (pointers into the modified p). */
static size_t split(char *p, char **out)
{
    size_t n = 0;
    char *save = NULL;
    for (char *c = strtok_r(p, "/", &save); c && n < COMPONENTS_MAX; c = strtok_r(NULL, "/", &save))
        if (strcmp(c, "."))
            out[n++] = c;
    return n;
}

static bool match_from(char **pat, size_t np, size_t pi, char **path, size_t n, size_t si, unsigned *budget)
{
    if (*budget == 0)
        return false; /* pathological "**" chains: give up (keeps the file) rather than spin */
    (*budget)--;
    if (pi == np)
        return true; /* the pattern matched a parent directory (or the path itself) */
    if (!strcmp(pat[pi], "**"))
        return match_from(pat, np, pi + 1, path, n, si, budget) ||
               (si < n && match_from(pat, np, pi, path, n, si + 1, budget));
    if (si == n)
        return false;
    return fnmatch(pat[pi], path[si], 0) == 0 && match_from(pat, np, pi + 1, path, n, si + 1, budget);
}

bool build_ignore_pattern_match(const char *pattern, const char *path)
{
    _cleanup_free_ char *pc = strdup(pattern), *sc = strdup(path);
    char *pat[COMPONENTS_MAX], *comp[COMPONENTS_MAX];
    if (!pc || !sc)
        return false;
    size_t np = split(pc, pat), n = split(sc, comp);
    if (np == 0)
        return false;
    unsigned budget = 100000;
    return match_from(pat, np, 0, comp, n, 0, &budget);
}

int build_ignore_parse(const char *text, struct build_ignore **ret)
{
    struct build_ignore *ig = calloc(1, sizeof(*ig));
    if (!ig)
        return -ENOMEM;
    const char *line = text;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t) (end - line) : strlen(line);
        _cleanup_free_ char *l = strndup(line, len);
        line = end ? end + 1 : NULL;
        if (!l) {
            build_ignore_free(ig);
            return -ENOMEM;
        }
        char *p = l;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t k = strlen(p);
        while (k && (p[k - 1] == ' ' || p[k - 1] == '\t' || p[k - 1] == '\r'))
            p[--k] = '\0';
        if (!*p || *p == '#')
            continue;
        bool neg = *p == '!';
        if (neg)
            p++;
        while (*p == '/' || (p[0] == '.' && p[1] == '/'))
            p += *p == '/' ? 1 : 2;
        if (!*p)
            continue;
        _cleanup_free_ char *pat = NULL;
        if ((pat = malloc(strlen(p) + 2)) == NULL) {
            build_ignore_free(ig);
            return -ENOMEM;
        }
        pat[0] = neg ? '!' : ' ';
        strcpy(pat + 1, p);
        if (strv_push(&ig->patterns, pat) < 0) {
            build_ignore_free(ig);
            return -ENOMEM;
        }
        ig->has_exceptions = ig->has_exceptions || neg;
    }
    *ret = ig;
    return 0;
}

int build_ignore_load(int context_fd, struct build_ignore **ret, struct berth_error *err)
{
    static const char *const names[] = { ".containerignore", ".dockerignore" };
    for (size_t i = 0; i < 2; i++) {
        _cleanup_close_ int fd = fs_open_in_root(context_fd, names[i], O_RDONLY | O_CLOEXEC, 0, 0);
        if (fd < 0)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        _cleanup_free_ char *text = NULL;
        int r = fs_read_file(path, IGNORE_FILE_MAX, &text, NULL, NULL);
        if (r < 0)
            return berth_error_errno(err, r, "reading %s in the build context", names[i]);
        r = build_ignore_parse(text, ret);
        return r < 0 ? berth_error_set(err, r, "out of memory") : 0;
    }
    *ret = NULL;
    return 0;
}

int build_ignore_check(const struct build_ignore *ig, const char *path, bool is_dir)
{
    if (!ig || !*path)
        return IGNORE_KEEP;
    bool excluded = false;
    for (char **p = ig->patterns; p && *p; p++)
        if (build_ignore_pattern_match(*p + 1, path))
            excluded = (*p)[0] != '!';
    if (!excluded)
        return IGNORE_KEEP;
    return is_dir && ig->has_exceptions ? IGNORE_EXCLUDED_DESCEND : IGNORE_EXCLUDED;
}
