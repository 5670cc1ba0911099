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
        int r = add_instruction(cf, start, cur, err);
        if (r < 0)
            return r;
        free(TAKE_PTR(cur));
        cur_len = cur_cap = 0;
    }
    if (cur) {
        cur[cur_len] = '\0';
        int r = add_instruction(cf, start, cur, err);
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
