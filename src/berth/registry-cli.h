/* Shared by the registry client verbs (push, pull, login, logout): common options and progress. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "registry/client.h"

struct registry_cli {
    struct registry_client_options opts;
    char *creds_copy;
    const char *platform;
    const char *format;
    bool quiet;
    /* progress line state */
    char current[72];
    double last_draw;
};

/* Handles an option shared by the verbs; returns 1 when c was one of them, 0 when not, -1 on a
 * bad value (message printed). Options: --tls-verify=BOOL --authfile FILE --creds USER:PASS
 * --ca-cert FILE, and for push and pull (REGISTRY_CLI_TRANSFER_OPTIONS) -q/--quiet and --format. */
int registry_cli_option(struct registry_cli *cli, const char *verb, int c, const char *arg);
/* After the option loop of push and pull: checks --format; -1 with a message when bad. */
int registry_cli_check(const struct registry_cli *cli, const char *verb);
/* Splits "oci:DIR[:TAG]" into a malloc'd DIR and TAG (pointing into it, NULL when absent); -1
 * with a message naming what (an option, or NULL for an argument) when arg is not of that form. */
int registry_cli_oci_path(const char *verb, const char *what, const char *arg, char **ret_dir, const char **ret_tag);
/* After a transfer with an OCI layout: the blob store's staging directory is berth's, not part
 * of the layout, so it goes when empty. */
void registry_cli_layout_done(const char *dir);
/* Reports a failed transfer ("berth VERB: message") and returns the exit status 1. */
int registry_cli_fail(struct registry_cli *cli, const char *verb, const struct berth_error *err);
void registry_cli_enable_progress(struct registry_cli *cli);
void registry_cli_clear(struct registry_cli *cli);

#define REGISTRY_CLI_LONG_OPTIONS                                                                                    \
    { "tls-verify", required_argument, NULL, 1001 }, { "authfile", required_argument, NULL, 1002 },                  \
        { "creds", required_argument, NULL, 1003 }, { "ca-cert", required_argument, NULL, 1004 }

/* -q/--quiet, --format text|json and the shared options, for push and pull */
#define REGISTRY_CLI_TRANSFER_OPTIONS                                                                                \
    { "quiet", no_argument, NULL, 'q' }, { "format", required_argument, NULL, 1005 }, REGISTRY_CLI_LONG_OPTIONS

#define REGISTRY_CLI_TRANSFER_HELP                                                                                   \
    REGISTRY_CLI_HELP                                                                                                \
    "  -q, --quiet                no progress bars\n"                                                               \
    "  --format text|json         output format\n"

#define REGISTRY_CLI_HELP                                                                                            \
    "  --tls-verify=false         skip TLS verification and allow plain HTTP (local registries)\n"                      \
    "  --authfile FILE            credentials file (default $BERTH_ROOT/auth.json or ~/.config/berth/auth.json)\n"   \
    "  --creds USER:PASSWORD      credentials for this command only\n"                                            \
    "  --ca-cert FILE             trust the CA certificates in FILE (PEM) instead of the system's\n"
