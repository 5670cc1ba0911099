/* berth-oci: a runc-compatible OCI runtime. Parses the global options and hands over to the verb. */
#include <getopt.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "oci-cli.h"
#include "oci/state.h"
#include "runtime/container.h"

extern char **environ;

struct oci_globals oci_globals = { .root = OCI_STATE_DEFAULT_ROOT, .log_format = "text" };

static bool log_to_file;

int cli_failf(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "berth-oci: %s\n", msg);
    if (log_to_file)
        log_error("%s", msg);
    return 1;
}

int cli_fail(const struct berth_error *err, int code)
{
    return cli_failf("%s", err && err->code ? berth_error_message(err) : strerror(code < 0 ? -code : code));
}

const char *cli_one_id(int argc, char **argv, const char *verb)
{
    if (optind != argc - 1) {
        cli_failf("%s: expected exactly one container id (got %d arguments); see 'berth-oci %s --help'", verb,
                  argc - optind, verb);
        return NULL;
    }
    return argv[optind];
}

int cli_check_systemd(void)
{
    if (!oci_globals.systemd_cgroup)
        return 0;
    if (access("/run/systemd/system", F_OK) < 0)
        return cli_failf("--systemd-cgroup: not supported: systemd is not running on this host");
    return cli_failf("--systemd-cgroup: the systemd cgroup driver is not supported yet");
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: berth-oci [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\n"
            "An OCI runtime with runc's command line.\n\n"
            "Global options:\n"
            "  --root DIR            state directory (default %s)\n"
            "  --log FILE            write log messages (and errors) to FILE\n"
            "  --log-format FORMAT   text or json\n"
            "  --debug               log debug messages\n"
            "  --systemd-cgroup      use the systemd cgroup driver (needs systemd)\n"
            "  -v, --version         print the version\n\nCommands:\n",
            OCI_STATE_DEFAULT_ROOT);
    for (const struct oci_command *c = oci_commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'berth-oci COMMAND --help' for a command's options.\n");
}

static int version(void)
{
    const struct scmp_version *v = seccomp_version();
    printf("berth-oci version %s\nspec: 1.2.0\nlibseccomp: %u.%u.%u\n", BERTH_VERSION, v ? v->major : 0,
           v ? v->minor : 0, v ? v->micro : 0);
    return 0;
}

int main(int argc, char **argv)
{
    berth_log_set_program("berth-oci");
    static const struct option opts[] = {
        { "root", required_argument, NULL, 'r' },
        { "log", required_argument, NULL, 'l' },
        { "log-format", required_argument, NULL, 'f' },
        { "debug", no_argument, NULL, 'd' },
        { "systemd-cgroup", no_argument, NULL, 's' },
        { "rootless", required_argument, NULL, 'R' },
        { "criu", required_argument, NULL, 'C' },
        { "version", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    opterr = 0;
    while ((c = getopt_long_only(argc, argv, "+vh", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            oci_globals.root = optarg;
            break;
        case 'l':
            oci_globals.log = optarg;
            break;
        case 'f':
            oci_globals.log_format = optarg;
            break;
        case 'd':
            oci_globals.debug = true;
            break;
        case 's':
            oci_globals.systemd_cgroup = true;
            break;
        case 'R':
        case 'C':
            break;
        case 'v':
            return version();
        case 'h':
            usage(stdout);
            return 0;
        default:
            return cli_failf("unknown or incomplete global option '%s'; see 'berth-oci --help'", argv[optind - 1]);
        }
    }
    if (strcmp(oci_globals.log_format, "text") && strcmp(oci_globals.log_format, "json"))
        return cli_failf("--log-format: '%s' is not text or json", oci_globals.log_format);
    enum berth_log_format fmt = !strcmp(oci_globals.log_format, "json") ? BERTH_LOG_JSON : BERTH_LOG_TEXT;
    enum berth_log_level lvl = oci_globals.debug ? BERTH_LOG_DEBUG : BERTH_LOG_WARNING;
    if (oci_globals.log && *oci_globals.log) {
        int r = berth_log_open(oci_globals.log, fmt, lvl);
        if (r < 0)
            return cli_failf("--log %s: %s", oci_globals.log, strerror(-r));
        log_to_file = true;
    } else {
        berth_log_open(NULL, fmt, lvl);
    }
    if (optind >= argc) {
        usage(stderr);
        return 1;
    }
    const char *verb = argv[optind];
    if (!strcmp(verb, "help")) {
        usage(stdout);
        return 0;
    }
    for (const struct oci_command *cmd = oci_commands; cmd->name; cmd++) {
        if (strcmp(cmd->name, verb))
            continue;
        if (cmd->sealed) {
            struct berth_error err = { 0 };
            int r = runtime_ensure_sealed_binary(argv, environ, &err);
            if (r < 0)
                return cli_fail(&err, r);
        }
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        optind = 0; /* GNU getopt: full reinitialisation */
        opterr = 0;
        return cmd->run(sub_argc, sub_argv);
    }
    return cli_failf("unknown command '%s'; run 'berth-oci --help' for the list", verb);
}
