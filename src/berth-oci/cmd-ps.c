#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci-cli.h"
#include "runtime/container.h"

static bool has_pid(const pid_t *pids, size_t n, long pid)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

int cmd_ps(int argc, char **argv)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *format = "table";
    int c;
    while ((c = getopt_long_only(argc, argv, "+f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 'h':
            printf("Usage: berth-oci ps [--format table|json] CONTAINER-ID [PS-ARGS...]\n\n"
                   "Lists the container's processes: with json an array of pids, else ps(1)'s\n"
                   "output (default ps -ef) filtered to them.\n");
            return 0;
        default:
            return cli_failf("ps: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (strcmp(format, "table") && strcmp(format, "json"))
        return cli_failf("ps: --format '%s' is not table or json", format);
    if (optind >= argc)
        return cli_failf("ps: expected a container id");
    const char *id = argv[optind];
    struct berth_error err = { 0 };
    pid_t *pids = NULL;
    size_t n = 0;
    int r = container_pids(oci_globals.root, id, &pids, &n, &err);
    if (r < 0)
        return cli_fail(&err, r);
    if (!strcmp(format, "json")) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_integer(pids[i]));
        json_dumpf(a, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(a);
        free(pids);
        return 0;
    }
    char cmd[4096] = "ps";
    if (optind + 1 >= argc)
        strcat(cmd, " -ef");
    for (int i = optind + 1; i < argc; i++) {
        /* Arguments go to ps unquoted except for shell metacharacters, which we refuse. */
        if (strpbrk(argv[i], ";&|`$<>\\\"'\n") || strlen(cmd) + strlen(argv[i]) + 2 >= sizeof(cmd)) {
            free(pids);
            return cli_failf("ps: unsupported ps argument '%s'", argv[i]);
        }
        strcat(cmd, " ");
        strcat(cmd, argv[i]);
    }
    FILE *p = popen(cmd, "r");
    if (!p) {
        free(pids);
        return cli_failf("ps: cannot run ps");
    }
    char line[4096];
    int pid_col = -1;
    bool header = true;
    while (fgets(line, sizeof(line), p)) {
        if (header) {
            fputs(line, stdout);
            char copy[4096];
            snprintf(copy, sizeof(copy), "%s", line);
            int col = 0;
            for (char *t = strtok(copy, " \t\n"); t; t = strtok(NULL, " \t\n"), col++)
                if (!strcmp(t, "PID"))
                    pid_col = col;
            header = false;
            continue;
        }
        char copy[4096];
        snprintf(copy, sizeof(copy), "%s", line);
        int col = 0;
        for (char *t = strtok(copy, " \t\n"); t; t = strtok(NULL, " \t\n"), col++)
            if (col == pid_col && has_pid(pids, n, strtol(t, NULL, 10)))
                fputs(line, stdout);
    }
    free(pids);
    int st = pclose(p);
    if (pid_col < 0)
        return cli_failf("ps: no PID column in ps's output");
    return st == 0 ? 0 : 1;
}
