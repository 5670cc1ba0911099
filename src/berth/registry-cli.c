#include "registry-cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

int registry_cli_option(struct registry_cli *cli, const char *verb, int c, const char *arg)
{
    switch (c) {
    case 1001:
        if (!strcmp(arg, "false") || !strcmp(arg, "0")) {
            cli->opts.tls_insecure = true;
        } else if (!strcmp(arg, "true") || !strcmp(arg, "1")) {
            cli->opts.tls_insecure = false;
        } else {
            fprintf(stderr, "berth %s: --tls-verify '%s': expected true or false\n", verb, arg);
            return -1;
        }
        return 1;
    case 1002:
        cli->opts.auth_file = arg;
        return 1;
    case 1004:
        if (access(arg, R_OK) < 0) {
            fprintf(stderr, "berth %s: --ca-cert '%s': cannot read it\n", verb, arg);
            return -1;
        }
        cli->opts.ca_file = arg;
        return 1;
    case 1003: {
        free(cli->creds_copy);
        cli->creds_copy = strdup(arg);
        char *colon = cli->creds_copy ? strchr(cli->creds_copy, ':') : NULL;
        if (!colon || colon == cli->creds_copy) {
            fprintf(stderr, "berth %s: --creds: expected USER:PASSWORD\n", verb);
            return -1;
        }
        *colon = '\0';
        cli->opts.username = cli->creds_copy;
        cli->opts.password = colon + 1;
        return 1;
    }
    case 'q':
        cli->quiet = true;
        return 1;
    case 1005:
        cli->format = arg;
        return 1;
    default:
        return 0;
    }
}

int registry_cli_check(const struct registry_cli *cli, const char *verb)
{
    if (strcmp(cli->format, "text") && strcmp(cli->format, "json")) {
        fprintf(stderr, "berth %s: unknown --format '%s' (expected text or json)\n", verb, cli->format);
        return -1;
    }
    return 0;
}

int registry_cli_oci_path(const char *verb, const char *what, const char *arg, char **ret_dir, const char **ret_tag)
{
    if (strncmp(arg, "oci:", 4) || !arg[4]) {
        fprintf(stderr, "berth %s: %s%s'%s': expected oci:DIR[:TAG]\n", verb, what ? what : "", what ? " " : "", arg);
        return -1;
    }
    char *dir = strdup(arg + 4);
    if (!dir) {
        fprintf(stderr, "berth %s: out of memory\n", verb);
        return -1;
    }
    char *colon = strrchr(dir, ':');
    *ret_tag = NULL;
    if (colon) {
        *colon = '\0';
        *ret_tag = colon + 1;
    }
    *ret_dir = dir;
    return 0;
}

void registry_cli_layout_done(const char *dir)
{
    _cleanup_free_ char *staging = dir ? fs_path_join(dir, "blobs/.staging") : NULL;
    if (staging)
        rmdir(staging);
}

int registry_cli_fail(struct registry_cli *cli, const char *verb, const struct berth_error *err)
{
    fprintf(stderr, "berth %s: %s\n", verb, berth_error_message(err));
    registry_cli_clear(cli);
    return 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* One line per blob, redrawn in place (at most 10 times a second) and ended when done. */
static void progress(void *userdata, const char *digest, uint64_t done, uint64_t total, bool finished)
{
    struct registry_cli *cli = userdata;
    double t = now();
    if (!finished && !strcmp(cli->current, digest) && t - cli->last_draw < 0.1)
        return;
    snprintf(cli->current, sizeof(cli->current), "%s", digest);
    cli->last_draw = t;
    int width = 30, fill = total ? (int) ((double) done / (double) total * width) : 0;
    if (fill > width)
        fill = width;
    char bar[64];
    memset(bar, '=', (size_t) fill);
    memset(bar + fill, ' ', (size_t) (width - fill));
    bar[width] = '\0';
    fprintf(stderr, "\r%.19s [%s] %7.1f / %.1f MiB", digest, bar, (double) done / 1048576.0,
            (double) total / 1048576.0);
    if (finished) {
        fputc('\n', stderr);
        cli->current[0] = '\0';
    }
    fflush(stderr);
}

void registry_cli_enable_progress(struct registry_cli *cli)
{
    if (!cli->quiet && isatty(STDERR_FILENO)) {
        cli->opts.progress = progress;
        cli->opts.progress_userdata = cli;
    }
}

void registry_cli_clear(struct registry_cli *cli)
{
    free(cli->creds_copy);
    cli->creds_copy = NULL;
}
