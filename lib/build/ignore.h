/* .dockerignore (or .containerignore) of a build context: which context paths COPY/ADD leave out.
 * Patterns as Docker reads them: one per line, '#' comments, blank lines skipped, leading '/' and
 * "./" dropped; '*', '?', '[...]' within a path component, '**' for any number of components; a
 * pattern that matches a directory excludes everything below it; '!' re-includes; the last
 * matching pattern decides. */
#pragma once

#include <stdbool.h>

#include "base/error.h"

struct build_ignore;

/* Reads CONTEXT/.containerignore, else CONTEXT/.dockerignore; *ret is NULL when neither exists. */
int build_ignore_load(int context_fd, struct build_ignore **ret, struct berth_error *err);
/* From text (for tests). */
int build_ignore_parse(const char *text, struct build_ignore **ret);
void build_ignore_free(struct build_ignore *ig);

enum { IGNORE_KEEP = 0, IGNORE_EXCLUDED = 1, IGNORE_EXCLUDED_DESCEND = 2 };
/* For path (relative to the context, no leading '/'): IGNORE_KEEP, IGNORE_EXCLUDED, or, for an
 * excluded directory when '!' patterns exist that may re-include something below it,
 * IGNORE_EXCLUDED_DESCEND (walk into it, keep only what is re-included). ig NULL keeps all. */
int build_ignore_check(const struct build_ignore *ig, const char *path, bool is_dir);

/* pattern matches path or one of its parent directories. */
bool build_ignore_pattern_match(const char *pattern, const char *path);
