#include "build/containerfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/strv.h"

#define CF_MAX_INSTRUCTIONS 1000
#define CF_MAX_HEREDOCS 16

static const struct {
    const char *name;
    enum cf_op op;
} ops[] = {
    { "FROM", CF_FROM }, { "COPY", CF_COPY }, { "ADD", CF_ADD }, { "RUN", CF_RUN },
    { "ENV", CF_ENV }, { "WORKDIR", CF_WORKDIR }, { "USER", CF_USER }, { "EXPOSE", CF_EXPOSE },
    { "LABEL", CF_LABEL }, { "ENTRYPOINT", CF_ENTRYPOINT }, { "CMD", CF_CMD }, { "ARG", CF_ARG },
};

void containerfile_free(struct containerfile *cf)
{
    if (!cf)
        return;
    for (size_t i = 0; i < cf->n; i++) {
        for (size_t k = 0; k < cf->ins[i].n_heredocs; k++) {
            free(cf->ins[i].heredocs[k].name);
            free(cf->ins[i].heredocs[k].content);
        }
        free(cf->ins[i].heredocs);
        free(cf->ins[i].keyword);
        free(cf->ins[i].args);
        json_decref(cf->ins[i].exec);
    }
    free(cf->ins);
    free(cf->path);
    free(cf);
}

int cf_split_words(const char *s, char ***ret)
{
    _cleanup_strv_ char **v = NULL;
    size_t cap = strlen(s) + 1;
    _cleanup_free_ char *w = malloc(cap);
    if (!w)
        return -ENOMEM;
    const char *p = s;
    for (;;) {
        while (*p && isspace((unsigned char) *p))
            p++;
        if (!*p)
            break;
        size_t n = 0;
        char quote = 0;
        while (*p && (quote || !isspace((unsigned char) *p))) {
            if (quote && *p == quote) {
                quote = 0;
                p++;
            } else if (!quote && (*p == '"' || *p == '\'')) {
                quote = *p++;
            } else if (*p == '\\' && p[1] && quote != '\'') {
                w[n++] = p[1];
                p += 2;
            } else {
                w[n++] = *p++;
            }
        }
        if (quote)
            return -EINVAL;
        w[n] = '\0';
        if (strv_push(&v, w) < 0)
            return -ENOMEM;
    }
    if (!v && !(v = calloc(1, sizeof(char *))))
        return -ENOMEM;
    *ret = TAKE_PTR(v);
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char) *s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char) s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* The exec form: a JSON array of strings, nothing else. */
static json_t *parse_exec(const char *args)
{
    if (args[0] != '[')
        return NULL;
    json_t *j = json_loads(args, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_array(j)) {
        json_decref(j);
        return NULL;
    }
    size_t i;
    json_t *x;
    json_array_foreach(j, i, x) if (!json_is_string(x))
    {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int add_instruction(struct containerfile *cf, unsigned line, char *text, struct berth_error *err)
{
    char *s = trim(text);
    if (!*s)
        return 0;
    char *sp = s;
    while (*sp && !isspace((unsigned char) *sp))
        sp++;
    char *args = *sp ? sp + 1 : sp;
    *sp = '\0';
    args = trim(args);
    size_t k;
    for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
        if (!strcasecmp(s, ops[k].name))
            break;
    if (k == sizeof(ops) / sizeof(ops[0]))
        return berth_error_set(err, -EINVAL, "%s:%u: unknown or unsupported instruction '%s'", cf->path, line, s);
    if (!*args)
        return berth_error_set(err, -EINVAL, "%s:%u: %s needs arguments", cf->path, line, ops[k].name);
    if (cf->n == CF_MAX_INSTRUCTIONS)
        return berth_error_set(err, -E2BIG, "%s:%u: more than %d instructions", cf->path, line, CF_MAX_INSTRUCTIONS);
    if (ARRAY_RESERVE(cf->ins, cf->cap, cf->n + 1, 16) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    struct cf_instruction *in = &cf->ins[cf->n];
    *in = (struct cf_instruction){ .op = ops[k].op, .line = line };
    in->keyword = strdup(ops[k].name);
    in->args = strdup(args);
    if (!in->keyword || !in->args) {
        free(in->keyword);
        free(in->args);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    in->exec = parse_exec(args);
    cf->n++;
    return 0;
}

bool cf_heredoc_only(const struct cf_instruction *in)
{
    if (in->n_heredocs != 1 || strncmp(in->args, "<<", 2))
        return false;
    for (const char *c = in->args; *c; c++)
        if (isspace((unsigned char) *c))
            return false;
    return true;
}

/* Delimiters become file names (COPY <<NAME DIR/) and shell words (RUN): keep them plain. */
static bool heredoc_name_ok(const char *s, size_t n)
{
    if (!n || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char) s[i]) && !strchr("_-.", s[i]))
            return false;
    return true;
}

/* What may follow a marker: the end of the word, or a shell operator (RUN cat <<EOF>/f). */
static bool heredoc_word_end(char c)
{
    return !c || isspace((unsigned char) c) || strchr("<>|;&()", c);
}

static bool op_takes_heredocs(enum cf_op op)
{
    return op == CF_RUN || op == CF_COPY || op == CF_ADD;
}

/* Finds the markers in args: a word starting with "<<" (not "<<<"), outside quotes, as BuildKit
 * reads them. The exec form has none: its strings are quoted. */
static int scan_heredocs(struct containerfile *cf, struct cf_instruction *in, unsigned line, struct berth_error *err)
{
    const char *s = in->args;
    char quote = 0;
    if (in->exec)
        return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        if (quote) {
            if (c == quote)
                quote = 0;
            else if (c == '\\' && quote == '"' && s[i + 1])
                i++;
            continue;
        }
        if (c == '\\') {
            if (s[i + 1])
                i++;
            continue;
        }
        if (c == '"' || c == '\'') {
            quote = c;
            continue;
        }
        if (c != '<' || s[i + 1] != '<' || s[i + 2] == '<')
            continue;
        size_t w = i;
        while (w > 0 && isdigit((unsigned char) s[w - 1]))
            w--;
        if (w > 0 && !isspace((unsigned char) s[w - 1]))
            continue;
        /* BuildKit refuses "3<<EOF" too: the body would reach a descriptor nobody reads. */
        if (w < i)
            return berth_error_set(err, -EINVAL, "%s:%u: %s: heredocs on a file descriptor ('%.*s<<') are not supported",
                                   cf->path, line, in->keyword, (int) (i - w), s + w);
        size_t j = i + 2, start, len;
        bool strip = false, quoted = false;
        if (s[j] == '-') {
            strip = true;
            j++;
        }
        if (s[j] == '"' || s[j] == '\'') {
            char q = s[j++];
            start = j;
            while (s[j] && s[j] != q)
                j++;
            if (!s[j])
                return berth_error_set(err, -EINVAL, "%s:%u: %s: unbalanced quote in heredoc marker '%s'", cf->path,
                                       line, in->keyword, s + i);
            len = j - start;
            j++;
            quoted = true;
        } else {
            start = j;
            while (!heredoc_word_end(s[j]))
                j++;
            len = j - start;
        }
        if (!heredoc_name_ok(s + start, len) || !heredoc_word_end(s[j]))
            return berth_error_set(err, -EINVAL,
                                   "%s:%u: %s: bad heredoc delimiter in '%.*s' (letters, digits, '_', '-', '.')",
                                   cf->path, line, in->keyword, (int) (j - i), s + i);
        if (!op_takes_heredocs(in->op))
            return berth_error_set(err, -EINVAL, "%s:%u: %s does not take a heredoc ('%.*s'; only RUN, COPY, ADD do)",
                                   cf->path, line, in->keyword, (int) (j - i), s + i);
        if (in->n_heredocs == CF_MAX_HEREDOCS)
            return berth_error_set(err, -E2BIG, "%s:%u: %s: more than %d heredocs", cf->path, line, in->keyword,
                                   CF_MAX_HEREDOCS);
        struct cf_heredoc *hs = realloc(in->heredocs, (in->n_heredocs + 1) * sizeof(*hs));
        if (!hs)
            return berth_error_set(err, -ENOMEM, "out of memory");
        in->heredocs = hs;
        struct cf_heredoc *h = &hs[in->n_heredocs];
        *h = (struct cf_heredoc){ .name = strndup(s + start, len), .expand = !quoted, .strip_tabs = strip };
        if (!h->name)
            return berth_error_set(err, -ENOMEM, "out of memory");
        in->n_heredocs++;
        i = j - 1;
    }
    return 0;
}

/* Reads each heredoc's body from *p on: the lines up to the one that is exactly its delimiter
 * (after leading tabs for <<-; a trailing '\r' is ignored). *line counts the lines consumed. */
static int read_heredoc_bodies(struct containerfile *cf, struct cf_instruction *in, const char **p, const char *end,
                               unsigned *line, struct berth_error *err)
{
    unsigned marker_line = *line;
    for (size_t k = 0; k < in->n_heredocs; k++) {
        struct cf_heredoc *h = &in->heredocs[k];
        size_t len = 0, cap = 0, name_len = strlen(h->name);
        for (;;) {
            if (*p >= end)
                return berth_error_set(err, -EINVAL, "%s:%u: %s: unterminated heredoc '<<%s%s': no line '%s' ends it",
                                       cf->path, marker_line, in->keyword, h->strip_tabs ? "-" : "", h->name,
                                       h->name);
            const char *l = *p, *nl = memchr(l, '\n', (size_t) (end - l));
            size_t n = nl ? (size_t) (nl - l) : (size_t) (end - l);
            *p += n + (nl ? 1 : 0);
            (*line)++;
            if (h->strip_tabs)
                while (n && *l == '\t') {
                    l++;
                    n--;
                }
            size_t cmp = n && l[n - 1] == '\r' ? n - 1 : n;
            if (cmp == name_len && !memcmp(l, h->name, name_len))
                break;
            if (ARRAY_RESERVE(h->content, cap, len + n + 2, 128) < 0)
                return berth_error_set(err, -ENOMEM, "out of memory");
            memcpy(h->content + len, l, n);
            len += n;
            h->content[len++] = '\n';
            h->content[len] = '\0';
        }
        if (!h->content && !(h->content = strdup("")))
            return berth_error_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

/* A complete instruction: added, then its heredoc bodies read from the lines that follow. */
static int finish_instruction(struct containerfile *cf, unsigned start, char *text, const char **p, const char *end,
                              unsigned *line, struct berth_error *err)
{
    size_t before = cf->n;
    int r = add_instruction(cf, start, text, err);
    if (r < 0 || cf->n == before)
        return r;
    struct cf_instruction *in = &cf->ins[cf->n - 1];
    r = scan_heredocs(cf, in, *line, err);
    if (r < 0)
        return r;
    return read_heredoc_bodies(cf, in, p, end, line, err);
}

int containerfile_parse(const char *path, const char *text, size_t len, struct containerfile **ret,
                        struct berth_error *err)
{
    _cleanup_(containerfile_freep) struct containerfile *cf = calloc(1, sizeof(*cf));
    if (!cf || !(cf->path = strdup(path)))
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (memchr(text, '\0', len))
        return berth_error_set(err, -EINVAL, "%s: contains a NUL byte: not a Containerfile", path);
    _cleanup_free_ char *cur = NULL;
    size_t cur_len = 0, cur_cap = 0;
    unsigned start = 0, line = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
        line++;
        _cleanup_free_ char *l = strndup(p, n);
        if (!l)
            return berth_error_set(err, -ENOMEM, "out of memory");
        p += n + (nl ? 1 : 0);
        char *t = trim(l);
        /* Comments are whole lines only, also between continuation lines. */
        if (t[0] == '#' || (!*t && !cur))
            continue;
        size_t tl = strlen(t);
        bool cont = tl && t[tl - 1] == '\\';
        if (cont)
            t[--tl] = '\0';
        if (!cur)
            start = line;
        if (ARRAY_RESERVE(cur, cur_cap, cur_len + tl + 2, 128) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
        memcpy(cur + cur_len, t, tl);
        cur_len += tl;
        if (cont) {
            cur[cur_len++] = ' ';
            cur[cur_len] = '\0';
            continue;
        }
        cur[cur_len] = '\0';
        int r = finish_instruction(cf, start, cur, &p, end, &line, err);
        if (r < 0)
            return r;
        free(TAKE_PTR(cur));
        cur_len = cur_cap = 0;
    }
    if (cur) {
        cur[cur_len] = '\0';
        int r = finish_instruction(cf, start, cur, &p, end, &line, err);
        if (r < 0)
            return r;
    }
    if (!cf->n)
        return berth_error_set(err, -EINVAL, "%s: no instructions", path);
    size_t first = 0;
    while (first < cf->n && cf->ins[first].op == CF_ARG)
        first++;
    if (first == cf->n || cf->ins[first].op != CF_FROM)
        return berth_error_set(err, -EINVAL, "%s:%u: the first instruction must be FROM (only ARG may precede it)",
                               path, first < cf->n ? cf->ins[first].line : cf->ins[0].line);
    *ret = TAKE_PTR(cf);
    return 0;
}
