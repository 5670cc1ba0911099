#include "build/stage-plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/strv.h"

struct stage {
    size_t from;      /* index of its FROM instruction */
    size_t end;       /* one past its last instruction */
    char *name;       /* AS name or NULL */
    bool *deps;       /* deps[j]: needs stage j (j < this stage) */
    bool needed;
};

static long stage_by_name(struct stage *s, size_t n, const char *name)
{
    for (size_t j = n; j-- > 0;)
        if (s[j].name && !strcasecmp(s[j].name, name))
            return (long) j;
    return -1;
}

static void mark(struct stage *s, size_t i)
{
    if (s[i].needed)
        return;
    s[i].needed = true;
    for (size_t j = 0; j < i; j++)
        if (s[i].deps[j])
            mark(s, j);
}

/* A COPY's --from value names stage j (or, with a variable in it, possibly any earlier one). */
static void copy_deps(const struct cf_instruction *in, struct stage *s, size_t cur)
{
    _cleanup_strv_ char **w = NULL;
    if (in->exec || cf_split_words(in->args, &w) < 0)
        return;
    for (char **p = w; p && *p && !strncmp(*p, "--", 2); p++) {
        if (strncmp(*p, "--from=", 7))
            continue;
        const char *v = *p + 7;
        if (strchr(v, '$')) {
            for (size_t j = 0; j < cur; j++)
                s[cur].deps[j] = true;
            continue;
        }
        char *end;
        unsigned long idx = strtoul(v, &end, 10);
        long j = *v && !*end ? (idx < cur ? (long) idx : -1) : stage_by_name(s, cur, v);
        if (j >= 0)
            s[cur].deps[j] = true;
    }
}

int build_plan(const struct containerfile *cf, const char *target, bool **ret_run, size_t *ret_end,
               struct berth_error *err)
{
    size_t n_stages = 0;
    for (size_t i = 0; i < cf->n; i++)
        n_stages += cf->ins[i].op == CF_FROM;
    struct stage *s = calloc(n_stages ? n_stages : 1, sizeof(*s));
    bool *run = calloc(cf->n ? cf->n : 1, sizeof(bool));
    int r = 0;
    if (!s || !run) {
        r = -ENOMEM;
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < cf->n; i++) {
        const struct cf_instruction *in = &cf->ins[i];
        if (in->op == CF_FROM) {
            if (k)
                s[k - 1].end = i;
            s[k].from = i;
            s[k].end = cf->n;
            if (!(s[k].deps = calloc(k ? k : 1, sizeof(bool)))) {
                r = -ENOMEM;
                goto out;
            }
            _cleanup_strv_ char **w = NULL;
            if (cf_split_words(in->args, &w) == 0 && w[0]) {
                long j = stage_by_name(s, k, w[0]);
                if (j >= 0)
                    s[k].deps[j] = true;
                if (strv_length(w) == 3 && !strcasecmp(w[1], "as") && !(s[k].name = strdup(w[2]))) {
                    r = -ENOMEM;
                    goto out;
                }
            }
            k++;
        } else if (in->op == CF_COPY && k) {
            copy_deps(in, s, k - 1);
        }
    }
    size_t final = n_stages ? n_stages - 1 : 0;
    if (target) {
        long t = stage_by_name(s, n_stages, target);
        if (t < 0) {
            r = berth_error_set(err, -EINVAL, "--target %s: %s has no stage of that name (FROM IMAGE AS %s)", target,
                                cf->path, target);
            goto out;
        }
        final = (size_t) t;
    }
    if (n_stages)
        mark(s, final);
    for (size_t i = 0; i < cf->n; i++)
        run[i] = n_stages == 0 || i < s[0].from; /* ARGs before the first FROM */
    for (size_t j = 0; j < n_stages; j++)
        for (size_t i = s[j].from; s[j].needed && i < s[j].end; i++)
            run[i] = true;
    *ret_end = n_stages ? s[final].end : cf->n;
    *ret_run = run;
    run = NULL;
out:
    for (size_t j = 0; s && j < n_stages; j++) {
        free(s[j].name);
        free(s[j].deps);
    }
    free(s);
    free(run);
    return r == -ENOMEM ? berth_error_set(err, r, "out of memory") : r;
}
