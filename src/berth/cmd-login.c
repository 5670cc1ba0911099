/* berth login / berth logout: registry credentials in the auth file (0600). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "cli-getopt.h"
#include "commands.h"
#include "registry-cli.h"

static void usage(FILE *out, bool login)
{
    if (login)
        fprintf(out, "Usage: berth login [OPTIONS] REGISTRY\n\n"
                     "Checks credentials against the registry and stores them for push and pull.\n\n"
                     "Options:\n"
                     "  -u, --username USER        user name\n"
                     "  -p, --password PASSWORD    password (visible in the process list: prefer --password-stdin)\n"
                     "  --password-stdin           read the password from standard input\n"
                     "  --tls-verify=false         skip TLS verification and allow plain HTTP\n"
                     "  --authfile FILE            credentials file\n");
    else
        fprintf(out, "Usage: berth logout [--authfile FILE] REGISTRY\n\nForgets the stored credentials.\n");
}

static int run(int argc, char **argv, bool login)
{
    const char *verb = login ? "login" : "logout";
    struct registry_cli cli = { .format = "text" };
    const char *user = NULL, *password = NULL;
    bool from_stdin = false;
    _cleanup_free_ char *def = NULL;   /* before any goto */
    static const struct option opts[] = {
        { "username", required_argument, NULL, 'u' },
        { "password", required_argument, NULL, 'p' },
        { "password-stdin", no_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        REGISTRY_CLI_LONG_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = cli_getopt(login ? "berth login" : "berth logout", argc, argv, login ? "u:p:h" : "h", opts)) != -1) {
        int r = registry_cli_option(&cli, verb, c, optarg);
        if (r < 0)
            goto usage_error;
        if (r > 0)
            continue;
        switch (c) {
        case 'u': user = optarg; break;
        case 'p': password = optarg; break;
        case 's': from_stdin = true; break;
        case 'h': usage(stdout, login); registry_cli_clear(&cli); return 0;
        default: goto usage_error;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "berth %s: expected one registry host (see berth %s --help)\n", verb, verb);
        goto usage_error;
    }
    const char *host = argv[optind];
    if (!host[0] || strchr(host, '/')) {
        fprintf(stderr, "berth %s: '%s' is not a registry host[:port]\n", verb, host);
        goto usage_error;
    }
    struct berth_error err = { 0 };
    if (!cli.opts.auth_file)
        def = registry_auth_file_default();
    const char *file = cli.opts.auth_file ? cli.opts.auth_file : def;
    if (!login) {
        if (registry_auth_store(file, host, NULL, NULL, &err) < 0) {
            fprintf(stderr, "berth logout: %s\n", berth_error_message(&err));
            registry_cli_clear(&cli);
            return 1;
        }
        printf("Removed login credentials for %s\n", host);
        registry_cli_clear(&cli);
        return 0;
    }
    char line[1024];
    if (from_stdin) {
        if (!fgets(line, sizeof(line), stdin)) {
            fprintf(stderr, "berth login: no password on standard input\n");
            goto usage_error;
        }
        line[strcspn(line, "\r\n")] = '\0';
        password = line;
    }
    if (!user || !password) {
        fprintf(stderr, "berth login: needs --username and --password or --password-stdin\n");
        goto usage_error;
    }
    cli.opts.username = user;
    cli.opts.password = password;
    struct registry_client *client = NULL;
    int r = registry_client_new(host, &cli.opts, &client, &err);
    if (r == 0)
        r = registry_client_ping(client, &err);
    registry_client_free(client);
    if (r == 0)
        r = registry_auth_store(file, host, user, password, &err);
    registry_cli_clear(&cli);
    if (r < 0) {
        fprintf(stderr, "berth login: %s\n", berth_error_message(&err));
        return 1;
    }
    printf("Login Succeeded\n");
    return 0;
usage_error:
    registry_cli_clear(&cli);
    return 125;
}

int cmd_login(int argc, char **argv)
{
    return run(argc, argv, true);
}

int cmd_logout(int argc, char **argv)
{
    return run(argc, argv, false);
}
