/* Option parsing for verbs that take only --help (and maybe flags) and one container id. */
#pragma once

#include <getopt.h>
#include <stdio.h>

#include "oci-cli.h"

/* Parses argv with opts; calls on_opt for each option other than --help. Returns the id, or NULL
 * with *ret_code set (0 after --help). */
static inline const char *cli_parse_simple(int argc, char **argv, const char *verb, const char *usage,
                                           const struct option *opts, int (*on_opt)(int c, const char *arg),
                                           int *ret_code)
{
    static const struct option help_only[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
    int c;
    while ((c = getopt_long_only(argc, argv, "+h", opts ? opts : help_only, NULL)) != -1) {
        if (c == 'h') {
            printf("Usage: berth-oci %s %s\n", verb, usage);
            *ret_code = 0;
            return NULL;
        }
        if (c == '?' || !on_opt || on_opt(c, optarg) < 0) {
            *ret_code = cli_failf("%s: unknown or invalid option '%s'; see 'berth-oci %s --help'", verb,
                                  argv[optind - 1], verb);
            return NULL;
        }
    }
    const char *id = cli_one_id(argc, argv, verb);
    if (!id)
        *ret_code = 1;
    return id;
}
