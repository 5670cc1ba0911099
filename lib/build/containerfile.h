/* Containerfile (Dockerfile) parsing: lines joined at trailing backslashes, comments and blank
 * lines dropped, each instruction split into its keyword and its argument text, with the JSON
 * (exec) form recognised, and the here-documents (<<EOF) of RUN, COPY and ADD read from the lines
 * that follow. Only the subset berth build runs is accepted; anything else is an error naming the
 * file and line. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

enum cf_op {
    CF_FROM, CF_COPY, CF_ADD, CF_RUN, CF_ENV, CF_WORKDIR, CF_USER, CF_EXPOSE, CF_LABEL,
    CF_ENTRYPOINT, CF_CMD, CF_ARG,
};

/* One here-document: "<<[-]NAME", "<<[-]\"NAME\"" or "<<[-]'NAME'" in the instruction's text,
 * its body the lines up to the one that is exactly NAME. */
struct cf_heredoc {
    char *name;      /* the delimiter, without quotes */
    char *content;   /* the body, every line ending in '\n'; leading tabs removed for <<- */
    bool expand;     /* unquoted delimiter: the builder expands $VARs in the body (COPY, ADD) */
    bool strip_tabs; /* <<- */
};

struct cf_instruction {
    enum cf_op op;
    unsigned line;   /* where it starts, 1-based */
    char *keyword;   /* as written, upper-cased: "RUN" */
    char *args;      /* the text after the keyword, trimmed */
    json_t *exec;    /* the JSON array of strings when args is one (exec form), else NULL */
    struct cf_heredoc *heredocs; /* in the order their markers appear in args */
    size_t n_heredocs;
};

/* The instruction's arguments are one heredoc marker and nothing else ("RUN <<EOF"). */
bool cf_heredoc_only(const struct cf_instruction *in);

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
