/* berth registry serve | gc: the OCI distribution registry over $BERTH_ROOT's blob store. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "image/image.h"
#include "cli-getopt.h"
#include "commands.h"
#include "registry/server.h"
#include "registry/storage.h"
#include "store/store.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: berth registry serve [OPTIONS]\n"
            "       berth registry gc [--root DIR] [--grace SECONDS] [--dry-run] [--format text|json]\n\n"
            "An OCI distribution (v1.1) registry sharing berth's blob store.\n\n"
            "serve options:\n"
            "  --addr HOST:PORT           listen address (default 127.0.0.1:5000; port 0 picks a free one)\n"
            "  --root DIR                 storage root (default $BERTH_ROOT or /var/lib/berth)\n"
            "  --tls-cert FILE --tls-key FILE  serve HTTPS with this PEM certificate and key\n"
            "  --auth htpasswd FILE       HTTP Basic authentication against an htpasswd file (bcrypt)\n"
            "  --auth token FILE          bearer tokens issued at /token to the users of FILE\n"
            "  --read-only                refuse every write (push, delete)\n"
            "  --anonymous-pull           allow pulls without credentials when --auth is set\n"
            "  --max-blob-size N[K|M|G]   refuse uploads of larger blobs (413 SIZE_INVALID; default: no limit)\n"
            "  --upload-timeout SECONDS   end upload sessions idle for longer (default 3600)\n"
            "  --quiet                    do not log each request\n"
            "  --log-format text|json     request log format on stderr (default text)\n\n"
            "gc options:\n"
            "  --grace SECONDS            keep anything touched more recently (default 3600)\n"
            "  --dry-run                  report what would be removed\n");
}

static void log_line(void *userdata, const char *line)
{
    bool *quiet = userdata;
    if (!*quiet)
        log_info("%s", line);
}

/* --auth takes "htpasswd FILE" (two words), "htpasswd:FILE" or "htpasswd=FILE". */
static int parse_auth(const char *arg, int argc, char **argv, struct registry_server_config *cfg)
{
    const char *kinds[] = { "htpasswd", "token" };
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(kinds[i]);
        if (strncmp(arg, kinds[i], n) != 0)
            continue;
        cfg->auth = i == 0 ? REGISTRY_AUTH_BASIC : REGISTRY_AUTH_TOKEN;
        if (arg[n] == ':' || arg[n] == '=') {
            cfg->htpasswd = arg + n + 1;
            return 0;
        }
        if (arg[n] == '\0' && optind < argc && argv[optind][0] != '-') {
            cfg->htpasswd = argv[optind++];
            return 0;
        }
    }
    fprintf(stderr, "berth registry serve: --auth '%s': expected 'htpasswd FILE' or 'token FILE'\n", arg);
    return -EINVAL;
}

static int serve(int argc, char **argv)
{
    struct registry_server_config cfg = { .addr = "127.0.0.1:5000", .root = berth_root_dir() };
    bool quiet = false, log_json = false;
    static const struct option opts[] = {
        { "addr", required_argument, NULL, 'a' },
        { "root", required_argument, NULL, 'r' },
        { "tls-cert", required_argument, NULL, 'c' },
        { "tls-key", required_argument, NULL, 'k' },
        { "auth", required_argument, NULL, 'A' },
        { "read-only", no_argument, NULL, 'R' },
        { "anonymous-pull", no_argument, NULL, 'P' },
        { "quiet", no_argument, NULL, 'q' },
        { "max-blob-size", required_argument, NULL, 'M' },
        { "log-format", required_argument, NULL, 'L' },
        { "upload-timeout", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = cli_getopt("berth registry serve", argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'a': cfg.addr = optarg; break;
        case 'r': cfg.root = optarg; break;
        case 'c': cfg.tls_cert = optarg; break;
        case 'k': cfg.tls_key = optarg; break;
        case 'A':
            if (parse_auth(optarg, argc, argv, &cfg) < 0)
                return 125;
            break;
        case 'R': cfg.read_only = true; break;
        case 'P': cfg.anonymous_pull = true; break;
        case 'q': quiet = true; break;
        case 'M': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            unsigned long long mult = !strcmp(end, "") ? 1 : !strcmp(end, "K") ? 1ull << 10 : !strcmp(end, "M") ? 1ull << 20
                                    : !strcmp(end, "G") ? 1ull << 30 : 0;
            if (end == optarg || !mult || optarg[0] == '-') {
                fprintf(stderr, "berth registry serve: --max-blob-size '%s': expected bytes, or a number with K, M or G\n",
                        optarg);
                return 125;
            }
            cfg.max_blob_size = v * mult;
            break;
        }
        case 'T': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (end == optarg || *end || optarg[0] == '-' || v == 0 || v > 10u * 365 * 86400) {
                fprintf(stderr, "berth registry serve: --upload-timeout '%s': expected a number of seconds (1 or more)\n",
                        optarg);
                return 125;
            }
            cfg.upload_timeout = v;
            break;
        }
        case 'L':
            if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
                fprintf(stderr, "berth registry serve: unknown --log-format '%s' (expected text or json)\n", optarg);
                return 125;
            }
            log_json = !strcmp(optarg, "json");
            break;
        case 'h': usage(stdout); return 0;
        default: return 125;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "berth registry serve: unexpected argument '%s'\n", argv[optind]);
        return 125;
    }
    berth_log_set_program("berth-registry");
    berth_log_open(NULL, log_json ? BERTH_LOG_JSON : BERTH_LOG_TEXT, BERTH_LOG_INFO);
    cfg.log = log_line;
    cfg.log_userdata = &quiet;
    /* Block the stop signals before MHD starts its threads, so only sigwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct registry_server *s = NULL;
    struct berth_error err = { 0 };
    if (registry_server_start(&cfg, &s, &err) < 0) {
        fprintf(stderr, "berth registry serve: %s\n", berth_error_message(&err));
        return 1;
    }
    const char *colon = strrchr(cfg.addr, ':');
    fprintf(stderr, "berth registry: listening on %s://%.*s:%u (root %s)\n", cfg.tls_cert ? "https" : "http",
            (int) (colon ? colon - cfg.addr : 0), cfg.addr, registry_server_port(s), cfg.root);
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    log_info("registry: signal %d, stopping", sig);
    registry_server_stop(s);
    return 0;
}

static int image_uses_blob(const char *digest, void *userdata)
{
    int r = image_store_blob_refs(userdata, digest, NULL);
    return r == 0 ? 0 : 1;   /* errors count as "in use": keep the blob */
}

static int gc(int argc, char **argv)
{
    const char *root = berth_root_dir(), *format = "text";
    long long grace = 3600;
    bool dry_run = false;
    static const struct option opts[] = {
        { "root", required_argument, NULL, 'r' },
        { "grace", required_argument, NULL, 'g' },
        { "dry-run", no_argument, NULL, 'n' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = cli_getopt("berth registry gc", argc, argv, "h", opts)) != -1) {
        char *end;
        switch (c) {
        case 'r': root = optarg; break;
        case 'g':
            grace = strtoll(optarg, &end, 10);
            if (*end || end == optarg || grace < 0) {
                fprintf(stderr, "berth registry gc: --grace '%s' is not a number of seconds\n", optarg);
                return 125;
            }
            break;
        case 'n': dry_run = true; break;
        case 'f': format = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return 125;
        }
    }
    if (optind < argc) {
        /* gc deletes: a stray word (a misplaced --dry-run value, a root given without --root) must not
         * be ignored on the way to a real collection */
        fprintf(stderr, "berth registry gc: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 125;
    }
    if (strcmp(format, "text") && strcmp(format, "json")) {
        fprintf(stderr, "berth registry gc: unknown --format '%s' (expected text or json)\n", format);
        return 125;
    }
    struct registry_storage *st = NULL;
    struct image_store *is = NULL;
    struct berth_error err = { 0 };
    struct registry_gc_stats stats;
    /* The image store shares the blobs: its images' blobs are never removed, and its exclusive
     * lock keeps a pull from recording a blob while this gc decides about it. */
    int r = image_store_open(root, &is, &err);
    if (r == 0)
        r = image_store_lock_exclusive(is, &err);
    if (r == 0) {
        r = registry_storage_open(root, &st, &err);
        if (r == 0)
            r = registry_gc_with(st, grace, dry_run, image_uses_blob, is, &stats, &err);
        image_store_unlock(is);
    }
    registry_storage_free(st);
    image_store_free(is);
    if (r < 0) {
        fprintf(stderr, "berth registry gc: %s\n", berth_error_message(&err));
        return 1;
    }
    if (!strcmp(format, "json")) {
        json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:b}", "blobs_removed", (json_int_t) stats.blobs_removed,
                              "bytes_removed", (json_int_t) stats.bytes_removed, "links_removed",
                              (json_int_t) stats.links_removed, "staging_removed", (json_int_t) stats.staging_removed,
                              "dry_run", dry_run);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else {
        printf("%s%llu blobs and %llu abandoned uploads (%llu bytes), %llu repository links\n",
               dry_run ? "would remove " : "removed ", (unsigned long long) stats.blobs_removed,
               (unsigned long long) stats.staging_removed, (unsigned long long) stats.bytes_removed,
               (unsigned long long) stats.links_removed);
    }
    return 0;
}

int cmd_registry(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "berth registry: a subcommand is needed (serve or gc; see --help)\n");
        return 125;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "serve"))
        return serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "gc"))
        return gc(argc - 1, argv + 1);
    fprintf(stderr, "berth registry: unknown subcommand '%s' (expected serve or gc)\n", argv[1]);
    return 125;
}
