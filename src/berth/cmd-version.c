#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli-getopt.h"
#include "commands.h"

int cmd_version(int argc, char **argv)
{
    const char *format = "text";
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = cli_getopt("berth version", argc, argv, "f:h", opts)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 'h':
            printf("Usage: berth version [--format text|json]\n\nPrints berth's version.\n");
            return 0;
        default:
            return 125;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "berth version: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 125;
    }
    if (!strcmp(format, "json")) {
        json_t *o = json_pack("{s:s}", "version", BERTH_VERSION);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else if (!strcmp(format, "text")) {
        printf("berth version %s\n", BERTH_VERSION);
    } else {
        fprintf(stderr, "berth version: unknown --format '%s' (expected text or json)\n", format);
        return 125;
    }
    return 0;
}
