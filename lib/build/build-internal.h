/* Shared between the build driver (build.c) and the steps that add layers (build-copy.c,
 * build-run.c). */
#pragma once

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>

#include "base/error.h"
#include "build/build.h"
#include "build/containerfile.h"
#include "build/ignore.h"
#include "image/image.h"

/* A finished stage of a multi-stage build: COPY --from and FROM can name it. */
struct build_stage {
    char *name;  /* the AS name, NULL when it has none (index only) */
    char *image; /* manifest digest of its last step's image */
};

struct build_state {
    const struct build_options *opts;
    struct containerfile *cf;
    struct image_store *is;
    int context_fd;
    json_t *config;  /* the OCI image config document being built */
    json_t *layers;  /* manifest layer descriptors */
    char *image;     /* manifest digest of the current step's image; NULL right after FROM scratch */
    char **args;     /* ARG values in scope, KEY=VALUE */
    struct build_ignore *ignore; /* the context's .dockerignore, NULL when none */
    struct build_stage *stages;  /* the stages before the current one */
    size_t n_stages, cap_stages;
    char *cur_stage_name;        /* AS name of the current stage, NULL when none */
    bool in_stage;               /* a FROM started the current stage (and it is not skipped) */
};

void build_out(struct build_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* $NAME and ${NAME} from the config's Env, then the ARGs; "\$" is a literal '$'. */
int build_expand(struct build_state *st, const char *s, char **ret);

/* COPY/ADD: the content hash of what would be copied (the diff_id of the tar with mtimes
 * zeroed) when bs is NULL; otherwise writes the layer: *ret_diff_id, *ret_digest, *ret_size. */
int build_copy(struct build_state *st, const struct cf_instruction *in, bool hash_only, char ret_diff_id[72],
               char **ret_digest, uint64_t *ret_size, struct berth_error *err);

/* RUN in a container on st->image; the layer of its changes. */
int build_run_step(struct build_state *st, const struct cf_instruction *in, char ret_diff_id[72], char **ret_digest,
                   uint64_t *ret_size, struct berth_error *err);
/* The env a RUN sees (config Env plus ARGs not overridden), KEY=VALUE. */
json_t *build_run_env(struct build_state *st);
/* The argv of a RUN, CMD or ENTRYPOINT (exec form, or /bin/sh -c TEXT). */
json_t *build_argv(const struct cf_instruction *in, const char *text);
/* The argv of a RUN, heredocs included: "RUN <<EOF" runs the body (with its #! interpreter when it
 * has one), other forms give the shell the text followed by the bodies. */
json_t *build_run_argv(const struct cf_instruction *in);
/* COPY/ADD heredocs: a fresh directory (*ret_dir, opened as *ret_fd; the caller removes it)
 * holding one file per heredoc, named after its delimiter, mode 0644, the body expanded for
 * $VARs unless the delimiter was quoted. */
int build_heredoc_files(struct build_state *st, const struct cf_instruction *in, char **ret_dir, int *ret_fd,
                        struct berth_error *err);
