/* berth build: runs a Containerfile (the subset containerfile.h accepts) against a build context
 * directory, step by step. Every step yields an image recorded in the image store (untagged):
 * COPY/ADD and RUN add a gzip layer, the other instructions change only the config. A step whose
 * cache key (the parent image's manifest digest, the instruction after substitution, the
 * content hash of COPY sources, the build args a RUN sees) is in the build cache (state database,
 * module "build") reuses the image recorded then. RUN steps run in a berth container
 * (lib/containers) on the parent image; the container's overlay upper dir becomes the layer. */
#pragma once

#include <stdbool.h>

#include "base/error.h"

struct build_options {
    const char *file;     /* the Containerfile */
    const char *context;  /* the directory COPY reads from */
    const char *tag;      /* NAME[:TAG] for the result, may be NULL */
    char **build_args;    /* KEY=VALUE, NULL-terminated, may be NULL */
    const char *network;  /* for RUN containers: NULL or "none" (default), "host", a berth network */
    const char *target;   /* stop after the stage of this name (FROM IMAGE AS NAME); NULL: build all */
    bool no_cache;
    /* Progress ("STEP 2/5: COPY ...", "--> Using cache ...") and RUN output, line by line. */
    void (*out)(void *userdata, const char *line);
    void *userdata;
};

struct build_result {
    char *digest; /* manifest digest */
    char *id;     /* config digest (the image id users see) */
    unsigned steps, cached;
};
void build_result_clear(struct build_result *r);

int build_run(const struct build_options *opts, struct build_result *ret, struct berth_error *err);
