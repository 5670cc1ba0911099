/* getopt_long with berth's own one-line messages: "berth vm ls: unknown option '-q' (see --help)"
 * instead of glibc's "ls: invalid option -- 'q'", which names a verb that looks like another
 * program and not berth. */
#pragma once

#include <getopt.h>

/* As getopt_long(argc, argv, shortopts, longopts, NULL); what it rejects (an unknown option, an
 * option without its value, a value given to an option that takes none) is printed as
 * "CMD: ..." on stderr and returned as '?'. */
int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts, const struct option *longopts);
