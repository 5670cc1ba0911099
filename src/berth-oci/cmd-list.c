#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "oci-cli.h"
#include "runtime/container.h"

int cmd_list(int argc, char **argv)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *format = "table";
    bool quiet = false;
    int c;
    while ((c = getopt_long_only(argc, argv, "+f:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            printf("Usage: berth-oci list [--format table|json] [--quiet]\n\nLists the containers under --root.\n");
            return 0;
        default:
            return cli_failf("list: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (strcmp(format, "table") && strcmp(format, "json"))
        return cli_failf("list: --format '%s' is not table or json", format);
    if (optind != argc)
        return cli_failf("list: takes no arguments");
    struct berth_error err = { 0 };
    json_t *arr = NULL;
    int r = container_list(oci_globals.root, &arr, &err);
    if (r < 0)
        return cli_fail(&err, r);
    size_t i;
    json_t *o;
    if (!strcmp(format, "json")) {
        json_dumpf(arr, stdout, JSON_COMPACT);
        putchar('\n');
    } else if (quiet) {
        json_array_foreach(arr, i, o) printf("%s\n", json_string_value(json_object_get(o, "id")));
    } else {
        printf("%-24s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
        json_array_foreach(arr, i, o) {
            const char *b = json_string_value(json_object_get(o, "bundle"));
            const char *cr = json_string_value(json_object_get(o, "created"));
            printf("%-24s %-8d %-10s %-40s %-32s %s\n", json_string_value(json_object_get(o, "id")),
                   (int) json_integer_value(json_object_get(o, "pid")),
                   json_string_value(json_object_get(o, "status")), b ? b : "", cr ? cr : "",
                   getuid() == 0 ? "root" : "");
        }
    }
    json_decref(arr);
    return 0;
}
