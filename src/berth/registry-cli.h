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
 * bad value (message printed). Options: --tls-verify=BOOL --authfile FILE --creds USER:PASS. */
int registry_cli_option(struct registry_cli *cli, const char *verb, int c, const char *arg);
void registry_cli_enable_progress(struct registry_cli *cli);
void registry_cli_clear(struct registry_cli *cli);

#define REGISTRY_CLI_LONG_OPTIONS                                                                                    \
    { "tls-verify", required_argument, NULL, 1001 }, { "authfile", required_argument, NULL, 1002 },                  \
        { "creds", required_argument, NULL, 1003 }, { "ca-cert", required_argument, NULL, 1004 }

#define REGISTRY_CLI_HELP                                                                                            \
    "  --tls-verify=false         skip TLS verification and allow plain HTTP (local registries)\n"                      \
    "  --authfile FILE            credentials file (default $BERTH_ROOT/auth.json or ~/.config/berth/auth.json)\n"   \
    "  --creds USER:PASSWORD      credentials for this command only\n"                                            \
    "  --ca-cert FILE             trust the CA certificates in FILE (PEM) instead of the system's\n"
