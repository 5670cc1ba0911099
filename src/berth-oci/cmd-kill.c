#include <signal.h>
#include <string.h>

#include "runtime/container.h"
#include "simple.h"

static bool kill_all;

static int on_opt(int c, const char *arg)
{
    if (c != 'a')
        return -1;
    kill_all = true;
    return 0;
}

int cmd_kill(int argc, char **argv)
{
    static const struct option opts[] = {
        { "all", no_argument, NULL, 'a' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    const char *id = NULL, *sig = "TERM";
    /* kill takes ID [SIGNAL]: parse options, then up to two positionals. */
    while ((c = getopt_long_only(argc, argv, "+ah", opts, NULL)) != -1) {
        if (c == 'h') {
            printf("Usage: berth-oci kill [--all] CONTAINER-ID [SIGNAL]\n\n"
                   "Sends SIGNAL (name or number, default TERM) to the container's init;\n"
                   "with --all to every process in its cgroup.\n");
            return 0;
        }
        if (on_opt(c, optarg) < 0)
            return cli_failf("kill: unknown option '%s'", argv[optind - 1]);
    }
    if (argc - optind < 1 || argc - optind > 2)
        return cli_failf("kill: expected CONTAINER-ID [SIGNAL]");
    id = argv[optind];
    if (argc - optind == 2)
        sig = argv[optind + 1];
    int signo = container_parse_signal(sig);
    if (signo < 0)
        return cli_failf("kill: unknown signal '%s'", sig);
    struct berth_error err = { 0 };
    int r = container_kill(oci_globals.root, id, signo, kill_all, &err);
    return r < 0 ? cli_fail(&err, r) : 0;
}
