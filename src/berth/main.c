/* berth: the user's CLI. Thin: parses the verb and hands over to cmd-<verb>.c. */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "commands.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: berth COMMAND [OPTIONS]\n\nContainers and microVMs from the same images.\n\nCommands:\n");
    for (const struct berth_command *c = berth_commands; c->name; c++)
        if (strncmp(c->summary, "(internal", 9)) /* run by berth-monitor, not by users */
            fprintf(out, "  %-12s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'berth COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    berth_log_set_program("berth");
    if (argc < 2) {
        fprintf(stderr, "berth: a command is needed; run 'berth --help' for the list\n");
        return 125;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version"))
        argv[1] = "version";
    for (const struct berth_command *c = berth_commands; c->name; c++)
        if (!strcmp(c->name, argv[1]))
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "berth: unknown command '%s'; run 'berth --help' for the list\n", argv[1]);
    return 125;
}
