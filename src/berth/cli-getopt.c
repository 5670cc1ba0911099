#include "cli-getopt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    /* A leading ':' makes getopt return ':' for a missing value, so the two errors can be told
     * apart; it goes after a '+' or '-' that sets the scanning mode. */
    char spec[128];
    size_t mode = shortopts[0] == '+' || shortopts[0] == '-';
    if (strlen(shortopts) + 2 > sizeof(spec))
        return getopt_long(argc, argv, shortopts, longopts, NULL);
    memcpy(spec, shortopts, mode);
    spec[mode] = ':';
    strcpy(spec + mode + 1, shortopts + mode);
    opterr = 0;
    int c = getopt_long(argc, argv, spec, longopts, NULL);
    if (c != '?' && c != ':')
        return c;
    /* optopt is 0 for an unknown long option, and the character for a short one; the argument
     * just read (argv[optind - 1]) is the long option as typed. */
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    bool is_long = !strncmp(arg, "--", 2) && (optopt == 0 || c == ':' || strchr(arg, '='));
    char shortname[3] = { '-', (char) optopt, '\0' };
    const char *name = is_long ? arg : shortname;
    if (c == ':')
        fprintf(stderr, "%s: %s needs a value (see --help)\n", cmd, name);
    else if (is_long && optopt != 0)
        fprintf(stderr, "%s: '%s': the option takes no value (see --help)\n", cmd, name);
    else
        fprintf(stderr, "%s: unknown option '%s' (see --help)\n", cmd, name);
    return '?';
}
