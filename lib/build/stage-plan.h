/* Which instructions of a multi-stage Containerfile a build runs: the stages the final stage (or
 * the --target stage) needs, through FROM STAGE and COPY --from=STAGE|INDEX, as BuildKit does;
 * the others are skipped. Pure: works on the parsed file only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "build/containerfile.h"

/* *ret_run: one flag per instruction (malloc'd); *ret_end: instructions from ret_end on are not
 * run (those after --target's stage). An unknown target is an error naming the file. */
int build_plan(const struct containerfile *cf, const char *target, bool **ret_run, size_t *ret_end,
               struct berth_error *err);
