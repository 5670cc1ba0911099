/* Containerfile (Dockerfile) parsing: lines joined at trailing backslashes, comments and blank
 * lines dropped, each instruction split into its keyword and its argument text, with the JSON
 * (exec) form recognised. Only the subset berth build runs is accepted; anything else is an error
 * naming the file and line. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

enum cf_op {
    CF_FROM, CF_COPY, CF_ADD, CF_RUN, CF_ENV, CF_WORKDIR, CF_USER, CF_EXPOSE, CF_LABEL,
    CF_ENTRYPOINT, CF_CMD, CF_ARG,
};

struct cf_instruction {
    enum cf_op op;
    unsigned line;   /* where it starts, 1-based */
    char *keyword;   /* as written, upper-cased: "RUN" */
    char *args;      /* the text after the keyword, trimmed */
    json_t *exec;    /* the JSON array of strings when args is one (exec form), else NULL */
};

struct containerfile {
    char *path;
    struct cf_instruction *ins;
    size_t n, cap;
};

/* Parses text (len bytes) read from path (used in errors: "PATH:LINE: ..."). */
int containerfile_parse(const char *path, const char *text, size_t len, struct containerfile **ret,
                        struct berth_error *err);
void containerfile_free(struct containerfile *cf);

/* Splits words separated by blanks, honouring "..." and '...' quotes and backslash escapes
 * (ENV, LABEL, ARG, EXPOSE, COPY). NULL-terminated. */
int cf_split_words(const char *s, char ***ret);

static inline void containerfile_freep(struct containerfile **p)
{
    containerfile_free(*p);
}
#define _cleanup_containerfile_ __attribute__((cleanup(containerfile_freep)))
