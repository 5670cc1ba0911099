/* Helpers shared by the `berth image ...` verbs. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "image/image.h"
#include "image/progress.h"

/* Output formats of verbs whose output programs read. */
enum out_format { OUT_TEXT, OUT_JSON };
/* Parses --format; prints the error and returns -1 for anything else. */
int image_cli_format(const char *verb, const char *s, enum out_format *ret);

/* Opens the store under $BERTH_ROOT, printing the error. NULL on failure. */
struct image_store *image_cli_open(const char *verb);

/* Prints "berth <verb>: <message>" and returns the exit code for a failure (1). */
int image_cli_fail(const char *verb, const struct berth_error *err);

/* Progress drawn on stderr when it is a terminal and quiet is false; otherwise NULL. */
const struct image_progress *image_cli_progress(bool quiet);

/* "12.3 MB" (decimal units, as docker prints sizes). */
void image_cli_size(uint64_t bytes, char *buf, size_t len);
/* "3 days ago" from a unix time or an RFC 3339 string (NULL/unparsable: "unknown"). */
void image_cli_ago(int64_t when, char *buf, size_t len);
int64_t image_cli_parse_time(const char *rfc3339);

int cmd_image_ls(int argc, char **argv);
int cmd_image_import(int argc, char **argv);
int cmd_image_export(int argc, char **argv);
int cmd_image_inspect(int argc, char **argv);
int cmd_image_history(int argc, char **argv);
int cmd_image_tag(int argc, char **argv);
int cmd_image_rm(int argc, char **argv);
int cmd_image_prune(int argc, char **argv);
