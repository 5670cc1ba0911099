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

/* The codes of the long options several verbs share, in a verb's struct option list; -a, -f, -o, -q and -h are
 * the shared short ones (each verb lists those it takes in its getopt string). */
enum { IMAGE_OPT_FORMAT = 0x100, IMAGE_OPT_NO_TRUNC };

/* What the shared options set. */
struct image_cli_opts {
    enum out_format format;
    bool all, force, quiet, no_trunc;
    const char *output; /* -o; NULL when not given */
};

struct option;
/* What an image verb takes and does. */
struct image_cli_verb {
    const char *name;              /* in messages: "image rm" */
    const char *shortopts;         /* getopt's */
    const struct option *longopts; /* shared options with the codes above */
    int min_args, max_args;        /* operands after the options; max_args -1: any number */
    const char *expected;          /* the operands, for "expected ...; see --help"; NULL: "unexpected argument" */
    int (*option)(int c, const char *arg, void *data); /* the verb's own options: 0 or an exit code */
    /* For image_cli_run: the verb on its operands, argv[optind...], with the store open; the exit code. */
    int (*run)(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt);
    const char *help; /* --help prints it; after a bad option it goes to stderr */
};

/* Parses argv for verb: the shared options fill *opt, the verb's own go to verb->option with data; then checks
 * the number of operands. Returns -1 when the verb goes on with its operands at argv[optind...], else its exit
 * code (0 after --help), having printed why. */
int image_cli_parse(const struct image_cli_verb *verb, int argc, char **argv, struct image_cli_opts *opt, void *data);
/* The whole of a verb that needs only its options checked before it opens the store: image_cli_parse, the store,
 * verb->run. Returns the exit code. */
int image_cli_run(const struct image_cli_verb *verb, int argc, char **argv);

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

/* ls and import parse their own options; the others are run by image_cli_run (their rows are in cmd-image.c). */
int cmd_image_ls(int argc, char **argv);
int cmd_image_import(int argc, char **argv);
int cmd_image_export(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt);
int cmd_image_inspect(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt);
int cmd_image_history(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt);
int cmd_image_tag(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt);
int cmd_image_rm(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt);
int cmd_image_prune(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt);
