/* berth run / berth create: containers from images (lib/containers). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attach-cli.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "cli-getopt.h"
#include "commands.h"
#include "exit-status.h"
#include "containers/connect.h"
#include "containers/run.h"
#include "containers/seccomp-profile.h"
#include "net/attach.h"
#include "net/ipam.h"
#include "runtime/container.h"
#include "store/store.h"
#include "vmm/disk/disk-tools.h"

static const char run_usage[] =
    "Usage: berth run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
    "       berth create [OPTIONS] IMAGE [COMMAND [ARG...]]\n\n"
    "Runs (or only creates) a container from an image in the store. Attached, berth run prints the\n"
    "container's output and exits with its status; 125 is berth's own error, 126 a command that cannot\n"
    "run, 127 a command not found.\n\n"
    "Options:\n"
    "  -d, --detach             run in the background and print the container id\n"
    "      --rm                 remove the container when it exits\n"
    "      --name NAME          name it (unique)\n"
    "  -e, --env KEY=VALUE      set an environment variable (repeatable)\n"
    "      --env-file FILE      read KEY=VALUE lines\n"
    "  -v, --volume HOST:CTR[:ro]  bind-mount a host path\n"
    "      --tmpfs PATH         mount a tmpfs\n"
    "  -w, --workdir DIR        working directory\n"
    "  -u, --user USER[:GROUP]  user (name or number, from the image's /etc/passwd)\n"
    "      --entrypoint CMD     override the image's entrypoint ('' clears it)\n"
    "  -m, --memory SIZE        memory limit (e.g. 256M)\n"
    "      --cpus N             CPU limit in cores (e.g. 0.5)\n"
    "      --pids-limit N       process limit\n"
    "      --read-only          read-only root filesystem\n"
    "      --cap-add CAP        add a capability (repeatable, ALL)\n"
    "      --cap-drop CAP       drop a capability (repeatable, ALL)\n"
    "      --security-opt OPT   seccomp=unconfined, seccomp=PROFILE.json (OCI or Docker format)\n"
    "      --privileged         every capability, the host's devices, no seccomp filter, /sys writable\n"
    "  -h, --hostname NAME      hostname (default: the short id)\n"
    "      --network NET        none (loopback only), host, or a berth network; repeat it to join several\n"
    "                           (eth0, eth1, ...). Default: berth.conf's default_network, else the\n"
    "                           network 'berth' (created on first use, 10.89.0.0/16)\n"
    "  -p, --publish [HOSTIP:]HOSTPORT:PORT[/tcp|udp]  publish a port (needs a network)\n"
    "      --ip ADDR            static address on the network given with --network (the first one),\n"
    "                           reserved for the container from its create until berth rm\n"
    "      --network-alias NAME another DNS name of the container on that network (repeatable),\n"
    "                           also reserved from its create until berth rm\n"
    "      --mac-address MAC    MAC address on the network\n"
    "      --restart POLICY     no (default), on-failure, always\n"
    "  -i, --interactive        keep the container's stdin open and send ours to it (echo hi | berth run -i\n"
    "                           IMAGE cat); a detached one takes input from berth attach\n"
    "  -t, --tty                give the container a pseudo-terminal as its console; with -i (-it) our\n"
    "                           terminal is in raw mode while attached, its size followed, and stdin\n"
    "                           must be a terminal. Output also goes to berth logs\n"
    "      --detach-keys KEYS   leave an attached -i/-t container running (default ctrl-p,ctrl-q;\n"
    "                           see berth attach --help)\n"
    "      --help               this text\n";

static volatile sig_atomic_t pending_signal;
static void forward_signal(int sig)
{
    pending_signal = sig;
}

/* Prints the log's JSON lines from offset on; returns the new offset. */
static off_t print_log_from(const char *path, off_t offset)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return offset;
    _cleanup_fclose_ FILE *f = fdopen(TAKE_FD(fd), "r");
    if (!f || fseeko(f, offset, SEEK_SET) < 0)
        return offset;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            break; /* a line still being written: read it next time */
        offset += n;
        json_t *o = json_loads(line, 0, NULL);
        const char *text = json_string_value(json_object_get(o, "log"));
        const char *stream = json_string_value(json_object_get(o, "stream"));
        if (text)
            fputs(text, stream && !strcmp(stream, "stderr") ? stderr : stdout);
        json_decref(o);
    }
    free(line);
    fflush(stdout);
    fflush(stderr);
    return offset;
}

/* -e and --env-file items: KEY=VALUE as given; KEY alone passes berth's own KEY when it is set and
 * nothing otherwise, as docker does for both. */
static int run_add_env(json_t *env, const char *item)
{
    if (strchr(item, '='))
        return json_array_append_new(env, json_string(item)) == 0 ? 0 : -ENOMEM;
    const char *v = getenv(item);
    if (!v)
        return 0;
    _cleanup_free_ char *kv = NULL;
    if (asprintf(&kv, "%s=%s", item, v) < 0)
        return -ENOMEM;
    return json_array_append_new(env, json_string(kv)) == 0 ? 0 : -ENOMEM;
}

static int parse_run(int argc, char **argv, json_t *spec, const char **name, bool *detach, bool *rm,
                     const char **restart, const char **detach_keys)
{
    enum { O_RM = 256, O_NAME, O_ENV_FILE, O_TMPFS, O_ENTRYPOINT, O_CPUS, O_PIDS, O_RO, O_CAP_ADD, O_CAP_DROP,
           O_NETWORK, O_RESTART, O_HELP, O_IP, O_MAC, O_SECURITY_OPT, O_PRIVILEGED,
           O_DETACH_KEYS, O_NETWORK_ALIAS };
    static const struct option opts[] = {
        { "detach", no_argument, NULL, 'd' },          { "rm", no_argument, NULL, O_RM },
        { "name", required_argument, NULL, O_NAME },   { "env", required_argument, NULL, 'e' },
        { "env-file", required_argument, NULL, O_ENV_FILE }, { "volume", required_argument, NULL, 'v' },
        { "tmpfs", required_argument, NULL, O_TMPFS }, { "workdir", required_argument, NULL, 'w' },
        { "user", required_argument, NULL, 'u' },      { "entrypoint", required_argument, NULL, O_ENTRYPOINT },
        { "memory", required_argument, NULL, 'm' },    { "cpus", required_argument, NULL, O_CPUS },
        { "pids-limit", required_argument, NULL, O_PIDS }, { "read-only", no_argument, NULL, O_RO },
        { "cap-add", required_argument, NULL, O_CAP_ADD }, { "cap-drop", required_argument, NULL, O_CAP_DROP },
        { "hostname", required_argument, NULL, 'h' },  { "network", required_argument, NULL, O_NETWORK },
        { "restart", required_argument, NULL, O_RESTART }, { "help", no_argument, NULL, O_HELP },
        { "publish", required_argument, NULL, 'p' },   { "ip", required_argument, NULL, O_IP },
        { "mac-address", required_argument, NULL, O_MAC },
        { "security-opt", required_argument, NULL, O_SECURITY_OPT },
        { "privileged", no_argument, NULL, O_PRIVILEGED },
        { "interactive", no_argument, NULL, 'i' },     { "tty", no_argument, NULL, 't' },
        { "detach-keys", required_argument, NULL, O_DETACH_KEYS },
        { "network-alias", required_argument, NULL, O_NETWORK_ALIAS },
        { NULL, 0, NULL, 0 },
    };
    json_t *env = json_array(), *vols = json_array(), *tmpfs = json_array(), *add = json_array(), *drop = json_array();
    json_t *ports = json_array();
    json_object_set_new(spec, "ports", ports);
    json_object_set_new(spec, "env", env);
    json_object_set_new(spec, "volumes", vols);
    json_object_set_new(spec, "tmpfs", tmpfs);
    json_object_set_new(spec, "cap_add", add);
    json_object_set_new(spec, "cap_drop", drop);
    const char *ip = NULL;
    _cleanup_strv_ char **aliases = NULL;
    int c;
    optind = 1;
    char verb[32];
    snprintf(verb, sizeof(verb), "berth %s", argv[0]); /* run or create */
    /* "+": options stop at the image, so the command's own options stay the command's. */
    while ((c = cli_getopt(verb, argc, argv, "+de:v:w:u:m:h:itp:", opts)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'd':
            *detach = true;
            break;
        case O_RM:
            *rm = true;
            break;
        case O_NAME:
            *name = optarg;
            break;
        case 'e':
            if (run_add_env(env, optarg) < 0)
                return 125;
            break;
        case O_ENV_FILE: {
            _cleanup_fclose_ FILE *f = fopen(optarg, "re");
            if (!f) {
                fprintf(stderr, "berth run: --env-file %s: %s\n", optarg, strerror(errno));
                return 125;
            }
            char line[4096];
            while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\r\n")] = '\0';
                if (!line[0] || line[0] == '#')
                    continue;
                if (run_add_env(env, line) < 0)
                    return 125;
            }
            break;
        }
        case 'v':
            json_array_append_new(vols, json_string(optarg));
            break;
        case O_TMPFS:
            json_array_append_new(tmpfs, json_string(optarg));
            break;
        case 'w':
            if (optarg[0] != '/') {
                /* docker's rule, said before anything is made (the runtime would refuse it at start) */
                fprintf(stderr, "berth %s: --workdir '%s': expected an absolute path\n", argv[0], optarg);
                return 125;
            }
            json_object_set_new(spec, "workdir", json_string(optarg));
            break;
        case 'u':
            json_object_set_new(spec, "user", json_string(optarg));
            break;
        case O_ENTRYPOINT: {
            json_t *e = json_array();
            if (*optarg)
                json_array_append_new(e, json_string(optarg));
            json_object_set_new(spec, "entrypoint", e);
            break;
        }
        case 'm': {
            uint64_t bytes;
            if (disk_parse_size(optarg, &bytes) < 0 || bytes < (4u << 20)) {
                fprintf(stderr, "berth run: --memory '%s': expected a size of at least 4M, e.g. 256M\n", optarg);
                return 125;
            }
            json_object_set_new(spec, "memory", json_integer((json_int_t) bytes));
            break;
        }
        case O_CPUS: {
            double v = strtod(optarg, &end);
            if (!*optarg || *end || v <= 0 || v > 1024) {
                fprintf(stderr, "berth run: --cpus '%s': expected a positive number of cores, e.g. 0.5\n", optarg);
                return 125;
            }
            json_object_set_new(spec, "cpus", json_real(v));
            break;
        }
        case O_PIDS: {
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v <= 0) {
                fprintf(stderr, "berth run: --pids-limit '%s': expected a positive number\n", optarg);
                return 125;
            }
            json_object_set_new(spec, "pids_limit", json_integer(v));
            break;
        }
        case O_RO:
            json_object_set_new(spec, "read_only", json_true());
            break;
        case O_CAP_ADD:
            json_array_append_new(add, json_string(optarg));
            break;
        case O_CAP_DROP:
            json_array_append_new(drop, json_string(optarg));
            break;
        case 'h':
            if (!*optarg || strlen(optarg) > 64) { /* the kernel's limit (HOST_NAME_MAX) */
                fprintf(stderr, "berth %s: --hostname '%s': expected 1 to 64 characters\n", argv[0], optarg);
                return 125;
            }
            json_object_set_new(spec, "hostname", json_string(optarg));
            break;
        case O_NETWORK: {
            /* Repeatable: the container joins every network named, eth0 on the first. */
            json_t *nets = json_object_get(spec, "networks");
            if (!nets) {
                nets = json_array();
                json_object_set_new(spec, "networks", nets);
                json_object_set_new(spec, "network", json_string(optarg));
            }
            json_array_append_new(nets, json_string(optarg));
            break;
        }
        case 'p': {
            struct net_port port;
            struct berth_error perr = { 0 };
            if (net_port_parse(optarg, &port, &perr) < 0) {
                fprintf(stderr, "berth %s: %s\n", argv[0], berth_error_message(&perr));
                return 125;
            }
            json_array_append_new(ports, json_string(optarg));
            break;
        }
        case O_IP:
            ip = optarg;
            break;
        case O_NETWORK_ALIAS:
            if (strv_push(&aliases, optarg) < 0)
                return 125;
            break;
        case O_MAC: {
            /* Checked here, so that a typo is a usage error and not a container made and removed. */
            uint8_t mac[6];
            struct berth_error merr = { 0 };
            if (ipam_parse_mac(optarg, mac, &merr) < 0) {
                fprintf(stderr, "berth %s: --mac-address: %s\n", argv[0], berth_error_message(&merr));
                return 125;
            }
            json_object_set_new(spec, "mac", json_string(optarg));
            break;
        }
        case O_RESTART:
            *restart = optarg;
            break;
        case O_PRIVILEGED:
            json_object_set_new(spec, "privileged", json_true());
            break;
        case O_SECURITY_OPT: {
            struct berth_error serr = { 0 };
            if (ctr_security_opt(spec, optarg, &serr) < 0) {
                fprintf(stderr, "berth run: %s\n", berth_error_message(&serr));
                return 125;
            }
            break;
        }
        case O_HELP:
            fputs(run_usage, stdout);
            return -1;
        case 'i':
            json_object_set_new(spec, "interactive", json_true());
            break;
        case 't':
            json_object_set_new(spec, "tty", json_true());
            break;
        case O_DETACH_KEYS:
            *detach_keys = optarg;
            break;
        default:
            return 125;
        }
    }
    const char *chosen = json_string_value(json_object_get(spec, "network"));
    bool no_net = chosen && (!strcmp(chosen, "none") || !strcmp(chosen, "host"));
    if (json_object_get(spec, "mac") && no_net) {
        /* docker's "conflicting options": there is no interface of ours to give it to. */
        fprintf(stderr, "berth %s: --mac-address needs a berth network, not --network %s\n", argv[0], chosen);
        return 125;
    }
    if (json_array_size(ports) && no_net) {
        /* Known now: no need to make a container to find it out at its start. */
        fprintf(stderr, "berth %s: -p needs a berth network, not --network %s\n", argv[0], chosen);
        return 125;
    }
    if (ip || aliases) {
        /* As Docker: they belong to the network named with --network (the first of several), so
         * they are kept with it ("network_opts", as network connect --ip/--alias records them). */
        const char *opt = ip ? "--ip" : "--network-alias";
        const char *net = json_string_value(json_object_get(spec, "network"));
        if (!net || !strcmp(net, "none") || !strcmp(net, "host")) {
            fprintf(stderr, "berth run: %s needs --network NETWORK (a berth network, not none or host)\n", opt);
            return 125;
        }
        struct ctr_network_opts no = { .ip = ip, .aliases = (const char *const *) aliases,
                                       .n_aliases = strv_length(aliases) };
        struct berth_error nerr = { 0 };
        if (ctr_network_opts_check(&no, &nerr) < 0) {
            fprintf(stderr, "berth run: %s\n", berth_error_message(&nerr));
            return 125;
        }
        json_object_set_new(spec, "network_opts", json_pack("{s:o}", net, ctr_network_opts_json(&no)));
    }
    if (optind >= argc) {
        fprintf(stderr, "berth %s: an image is needed (see --help)\n", argv[0]);
        return 125;
    }
    if (optind + 1 < argc && !argv[optind + 1][0]) {
        /* said here, not by the runtime at start with a config.json path */
        fprintf(stderr, "berth %s: the command is an empty string\n", argv[0]);
        return 125;
    }
    json_object_set_new(spec, "image", json_string(argv[optind++]));
    json_t *cmd = json_array();
    for (int i = optind; i < argc; i++)
        json_array_append_new(cmd, json_string(argv[i]));
    json_object_set_new(spec, "cmd", cmd);
    return 0;
}

/* berth run -i/-t in the foreground: the attach session until the container exits or the user
 * detaches; --rm is the exit hook's (which also covers a detached session), awaited here. */
static int run_session(struct store *s, struct ctr_record *rec, struct ctr_attach *a, bool rm)
{
    attach_cli_setup(a, rec, true);
    int status = attach_cli_session(s, rec, a, "run");
    close(a->sock);
    if (status != ATTACH_CLI_DETACHED && rm) {
        char id[sizeof(rec->id)];
        snprintf(id, sizeof(id), "%s", rec->id);
        struct ctr_record again;
        int waited = 0;
        for (; waited < 10000; waited += 20) {
            if (ctr_record_find(s, id, &again, NULL) < 0)
                break;
            ctr_record_clear(&again);
            struct timespec ts = { 0, 20 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
        if (waited >= 10000 && ctr_record_find(s, id, &again, NULL) == 0) {
            struct berth_error err = { 0 };
            if (ctr_remove(s, &again, true, &err) < 0)
                fprintf(stderr, "berth run: --rm: %s\n", berth_error_message(&err));
            ctr_record_clear(&again);
        }
    }
    ctr_record_clear(rec);
    return status == ATTACH_CLI_DETACHED ? 0 : status;
}

static int run_or_create(int argc, char **argv, bool run)
{
    _cleanup_json_ json_t *spec = json_object();
    const char *name = NULL, *restart = NULL, *keys = CTR_DETACH_KEYS_DEFAULT;
    bool detach = false, rm = false;
    int r = parse_run(argc, argv, spec, &name, &detach, &rm, &restart, &keys);
    if (r)
        return r < 0 ? 0 : r;
    bool tty = json_is_true(json_object_get(spec, "tty"));
    bool interactive = json_is_true(json_object_get(spec, "interactive"));
    struct berth_error err = { 0 };
    struct ctr_attach a = { .sock = -1 };
    if (ctr_parse_detach_keys(keys, a.detach_keys, &a.n_detach_keys, &err) < 0) {
        fprintf(stderr, "berth %s: %s\n", run ? "run" : "create", berth_error_message(&err));
        return 125;
    }
    if (run && !detach && tty && interactive && !isatty(STDIN_FILENO)) {
        /* Docker's answer and status: -it promises a terminal that is not there (use -i alone to
         * pipe input, -t alone for a pty without input). Checked before anything is created. */
        fprintf(stderr, "berth run: the input device is not a TTY\n");
        return 1;
    }
    _cleanup_store_ struct store *s = NULL;
    struct ctr_record rec;
    if (ctr_store_open(&s, &err) < 0 || ctr_create(s, name, spec, restart, rm, &rec, &err) < 0) {
        fprintf(stderr, "berth %s: %s\n", run ? "run" : "create", berth_error_message(&err));
        return 125;
    }
    if (!run) {
        printf("%s\n", rec.id);
        ctr_record_clear(&rec);
        return 0;
    }
    /* -i/-t attached: connected to the monitor before the process runs (no output missed). The
     * monitor's exit hook stays on, since the user may detach and leave the container running. */
    bool session = !detach && (tty || interactive);
    struct ctr_start_opts so = { .keep_on_exit = !detach && !session, .ret_attach = session ? &a.sock : NULL };
    struct winsize ws;
    if (tty && (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)) {
        so.rows = ws.ws_row;
        so.cols = ws.ws_col;
    }
    if (ctr_start_with(s, &rec, &so, &err) < 0) {
        fprintf(stderr, "berth run: %s\n", berth_error_message(&err));
        struct berth_error ignored = { 0 };
        ctr_remove(s, &rec, true, &ignored);
        ctr_record_clear(&rec);
        return cli_start_failure_status(&err, 125);
    }
    if (detach) {
        printf("%s\n", rec.id);
        ctr_record_clear(&rec);
        return 0;
    }
    if (session)
        return run_session(s, &rec, &a, rm);
    /* Attached: follow the log until the exit is recorded, forwarding SIGINT/SIGTERM. */
    struct sigaction sa = { .sa_handler = forward_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    _cleanup_free_ char *log = ctr_path(&rec, "container.log");
    _cleanup_free_ char *dir = ctr_dir(rec.id);
    /* Woken by the monitor's writes (log lines, exit.json renamed into place) rather than polling. */
    _cleanup_close_ int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ino >= 0 && dir)
        inotify_add_watch(ino, dir, IN_MODIFY | IN_MOVED_TO | IN_CLOSE_WRITE);
    off_t offset = 0;
    for (;;) {
        offset = print_log_from(log, offset);
        if (pending_signal) {
            ctr_kill(s, &rec, pending_signal, NULL);
            pending_signal = 0;
        }
        ctr_refresh(s, &rec, NULL);
        if (!strcmp(rec.state, "exited"))
            break;
        struct pollfd p = { ino, POLLIN, 0 };
        if (ino < 0 || poll(&p, 1, 1000) > 0) {
            char buf[4096];
            while (ino >= 0 && read(ino, buf, sizeof(buf)) > 0)
                ;
        }
        if (ino < 0) {
            struct timespec ts = { 0, 10 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
    }
    print_log_from(log, offset);
    int status = rec.exit_code < 0 ? 125 : rec.exit_code;
    if (rm && ctr_remove(s, &rec, true, &err) < 0)
        fprintf(stderr, "berth run: --rm: %s\n", berth_error_message(&err));
    ctr_record_clear(&rec);
    return status;
}

int cmd_ctr_run(int argc, char **argv)
{
    return run_or_create(argc, argv, true);
}

int cmd_ctr_create(int argc, char **argv)
{
    return run_or_create(argc, argv, false);
}
