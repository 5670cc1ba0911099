/* berth start|stop|kill|restart|rm|ps|logs|exec|inspect|wait|pause|unpause and container prune. The verbs that
 * act on each container named are rows of one table (ctr_verbs), run by cmd_ctr_each. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
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
#include "cmd-image.h"
#include "commands.h"
#include "exit-status.h"
#include "containers/run.h"
#include "runtime/container.h"
#include "store/store.h"
#include "vm/vm.h"

/* The options of the verbs that act on each container named; a verb's row says which it takes. */
enum {
    CO_TIME = 1 << 0,
    CO_SIGNAL = 1 << 1,
    CO_FORCE = 1 << 2,
    CO_FOLLOW = 1 << 3,
    CO_TIMESTAMPS = 1 << 4,
    CO_TAIL = 1 << 5,
    CO_ATTACH = 1 << 6,
    CO_INTERACTIVE = 1 << 7,
    CO_KEYS = 1 << 8,
    CO_FORMAT = 1 << 9,
};

/* An option sets its bits (a verb must take them all); one with a value also reads "--long=VALUE". -t and -f mean
 * different things to different verbs, which never take both meanings. */
static const struct {
    unsigned bits;
    const char *short_name, *long_name;
    bool value;
} ctr_options[] = {
    { CO_TIME, "-t", "--time", true },
    { CO_SIGNAL, "-s", "--signal", true },
    { CO_FORCE, "-f", "--force", false },
    { CO_FOLLOW, "-f", "--follow", false },
    { CO_TIMESTAMPS, "-t", "--timestamps", false },
    { CO_TAIL, NULL, "--tail", true },
    { CO_ATTACH, "-a", "--attach", false },
    { CO_INTERACTIVE, "-i", "--interactive", false },
    { CO_ATTACH | CO_INTERACTIVE, "-ai", "-ia", false }, /* the bundles start takes */
    { CO_KEYS, NULL, "--detach-keys", true },
    { CO_FORMAT, "-f", "--format", true },
};

struct ctr_opts {
    unsigned flags; /* the CO_ bits given */
    int timeout, signal;
    long tail;
    const char *keys;
    json_t *out; /* inspect's array, made at the first container found */
};

/* Reads the options before the first name; returns 0 or the exit code, having said what was wrong. */
static int ctr_parse_opts(const char *verb, unsigned accept, int argc, char **argv, struct ctr_opts *o,
                          int *ret_first)
{
    const size_t n = sizeof(ctr_options) / sizeof(ctr_options[0]);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i], *value = NULL;
        size_t k = 0;
        for (; k < n; k++) {
            size_t len = strlen(ctr_options[k].long_name);
            if ((accept & ctr_options[k].bits) != ctr_options[k].bits)
                continue;
            if ((ctr_options[k].short_name && !strcmp(a, ctr_options[k].short_name)) ||
                !strcmp(a, ctr_options[k].long_name))
                break;
            if (ctr_options[k].value && !strncmp(a, ctr_options[k].long_name, len) && a[len] == '=') {
                value = a + len + 1;
                break;
            }
        }
        if (k == n) {
            fprintf(stderr, "berth %s: unknown option '%s' (see --help)\n", verb, a);
            return 125;
        }
        if (ctr_options[k].value && !value && i + 1 >= argc) {
            fprintf(stderr, "berth %s: %s needs a value (see --help)\n", verb, a);
            return 125;
        }
        if (ctr_options[k].value && !value)
            value = argv[++i];
        o->flags |= ctr_options[k].bits;
        char *end = NULL;
        switch (ctr_options[k].bits) {
        case CO_TIME:
            o->timeout = (int) strtol(value, &end, 10);
            if (!*value || *end || o->timeout < 0) {
                fprintf(stderr, "berth %s: --time '%s': expected seconds\n", verb, value);
                return 125;
            }
            break;
        case CO_SIGNAL:
            o->signal = container_parse_signal(value);
            if (o->signal <= 0) {
                fprintf(stderr, "berth %s: unknown signal '%s'\n", verb, value);
                return 125;
            }
            break;
        case CO_TAIL:
            o->tail = strtol(value, &end, 10);
            if (!*value || *end || o->tail < 0) {
                fprintf(stderr, "berth %s: --tail '%s': expected a number of lines\n", verb, value);
                return 125;
            }
            break;
        case CO_KEYS:
            o->keys = value;
            break;
        case CO_FORMAT:
            /* inspect prints JSON; scripts written for podman pass --format json */
            if (strcmp(value, "json")) {
                fprintf(stderr, "berth %s: --format '%s': only json is supported (the output is JSON)\n", verb, value);
                return 125;
            }
            break;
        }
    }
    *ret_first = i;
    return 0;
}

static int act_start(struct store *s, struct ctr_record *rec, struct ctr_opts *o, struct berth_error *err)
{
    return ctr_start(s, rec, false, err);
}

static int act_stop(struct store *s, struct ctr_record *rec, struct ctr_opts *o, struct berth_error *err)
{
    return ctr_stop(s, rec, o->timeout, err);
}

static int act_restart(struct store *s, struct ctr_record *rec, struct ctr_opts *o, struct berth_error *err)
{
    int r = ctr_stop(s, rec, o->timeout, err);
    return r == 0 ? ctr_start(s, rec, false, err) : r;
}

static int act_kill(struct store *s, struct ctr_record *rec, struct ctr_opts *o, struct berth_error *err)
{
    return ctr_kill(s, rec, o->signal, err);
}

static int act_rm(struct store *s, struct ctr_record *rec, struct ctr_opts *o, struct berth_error *err)
{
    return ctr_remove(s, rec, o->flags & CO_FORCE, err);
}

static int act_pause(struct store *s, struct ctr_record *rec, struct ctr_opts *o, struct berth_error *err)
{
    return ctr_pause(s, rec, true, err);
}

static int act_unpause(struct store *s, struct ctr_record *rec, struct ctr_opts *o, struct berth_error *err)
{
    return ctr_pause(s, rec, false, err);
}

static int act_wait(struct store *s, struct ctr_record *rec, struct ctr_opts *o, struct berth_error *err)
{
    int r = ctr_wait(s, rec, -1, err);
    if (r == 0)
        printf("%d\n", rec->exit_code);
    return r;
}

static int act_inspect(struct store *s, struct ctr_record *rec, struct ctr_opts *o, struct berth_error *err)
{
    if (!o->out)
        o->out = json_array();
    json_array_append_new(o->out, ctr_record_to_json(rec));
    return 0;
}

static int act_logs(struct store *s, struct ctr_record *rec, struct ctr_opts *o, struct berth_error *err)
{
    _cleanup_free_ char *path = ctr_path(rec, "container.log");
    _cleanup_strv_ char **lines = NULL;
    off_t offset = 0;
    for (;;) {
        _cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        _cleanup_fclose_ FILE *f = fd >= 0 ? fdopen(TAKE_FD(fd), "r") : NULL;
        if (f && fseeko(f, offset, SEEK_SET) == 0) {
            char *line = NULL;
            size_t cap = 0;
            ssize_t n;
            while ((n = getline(&line, &cap, f)) > 0 && line[n - 1] == '\n') {
                offset += n;
                strv_push(&lines, line);
            }
            free(line);
        }
        size_t count = strv_length(lines), from = 0;
        if (o->tail >= 0 && count > (size_t) o->tail)
            from = count - (size_t) o->tail;
        for (size_t i = from; i < count; i++) {
            json_t *j = json_loads(lines[i], 0, NULL);
            const char *text = json_string_value(json_object_get(j, "log"));
            const char *stream = json_string_value(json_object_get(j, "stream"));
            FILE *out = stream && !strcmp(stream, "stderr") ? stderr : stdout;
            if (text && (o->flags & CO_TIMESTAMPS))
                fprintf(out, "%s ", json_string_value(json_object_get(j, "time")));
            if (text)
                fputs(text, out);
            json_decref(j);
        }
        fflush(stdout);
        fflush(stderr);
        strv_free(lines);
        lines = NULL;
        o->tail = -1;
        if (!(o->flags & CO_FOLLOW))
            return 0;
        ctr_refresh(s, rec, NULL);
        if (strcmp(rec->state, "running") && strcmp(rec->state, "paused"))
            return 0;
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

/* The verbs that run one action on each container named: a row each. */
static const struct ctr_verb {
    const char *name;
    const char *usage;
    unsigned accept;
    int (*action)(struct store *s, struct ctr_record *rec, struct ctr_opts *o, struct berth_error *err);
    bool echo; /* print each container's name once its action succeeded (as docker stop/rm/kill do) */
} ctr_verbs[] = {
    { "inspect", "Usage: berth inspect [--format json] NAME...\n\nPrints containers' configuration and state as JSON.\n",
      CO_FORMAT, act_inspect, false },
    { "kill", "Usage: berth kill [--signal SIG] NAME...\n\nSends a signal (default KILL) to containers.\n", CO_SIGNAL,
      act_kill, true },
    { "logs",
      "Usage: berth logs [-f] [-t] [--tail N] NAME\n\nPrints a container's output (kept across berth invocations);\n"
      "-f follows it while the container runs, -t adds timestamps.\n",
      CO_FOLLOW | CO_TIMESTAMPS | CO_TAIL, act_logs, false },
    { "pause", "Usage: berth pause NAME...\n\nFreezes every process of containers.\n", 0, act_pause, true },
    { "restart", "Usage: berth restart [--time SECONDS] NAME...\n\nStops (if running) and starts containers.\n",
      CO_TIME, act_restart, true },
    { "rm", "Usage: berth rm [-f] NAME...\n\nRemoves containers; a running one needs -f (it is killed).\n", CO_FORCE,
      act_rm, true },
    { "start",
      "Usage: berth start NAME...\n"
      "       berth start -a [-i] [--detach-keys KEYS] NAME\n\n"
      "Starts created or exited containers in the background. With -a (--attach), starts one and\n"
      "attaches to it as berth run does (its output, and with -i our input; raw mode and resizing for\n"
      "a container with a pty; detach keys); the exit status is then the container's.\n",
      CO_ATTACH | CO_INTERACTIVE | CO_KEYS, act_start, true },
    { "stop",
      "Usage: berth stop [--time SECONDS] NAME...\n\nSends SIGTERM, then SIGKILL after --time seconds (default 10).\n",
      CO_TIME, act_stop, true },
    { "unpause", "Usage: berth unpause NAME...\n\nThaws paused containers.\n", 0, act_unpause, true },
    { "wait", "Usage: berth wait NAME...\n\nWaits for containers to exit and prints their exit codes.\n", 0, act_wait,
      false },
};

/* Runs the verb's action on each named container; errors are printed one line each; exit 1 when any failed. */
static int for_each_named(const struct ctr_verb *v, int first, int argc, char **argv, struct ctr_opts *o)
{
    if (first >= argc) {
        fprintf(stderr, "berth %s: a container name or id is needed (see --help)\n", v->name);
        return 125;
    }
    int rc = 0;
    for (int i = first; i < argc; i++) {
        struct berth_error err = { 0 };
        _cleanup_store_ struct store *s = NULL;
        struct ctr_record rec;
        if (ctr_store_open(&s, &err) < 0 || ctr_record_find(s, argv[i], &rec, &err) < 0) {
            fprintf(stderr, "berth %s: %s\n", v->name, berth_error_message(&err));
            rc = 1;
            continue;
        }
        ctr_refresh(s, &rec, NULL);
        if (v->action(s, &rec, o, &err) < 0) {
            fprintf(stderr, "berth %s: %s\n", v->name, berth_error_message(&err));
            rc = 1;
        } else if (v->echo) {
            printf("%s\n", rec.name);
        }
        ctr_record_clear(&rec);
    }
    return rc;
}

/* --help or -h anywhere, as docker takes them (none of these verbs has another -h). */
static bool wants_help(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return true;
        }
    return false;
}

int cmd_ctr_each(int argc, char **argv)
{
    const struct ctr_verb *v = ctr_verbs;
    while (v + 1 < ctr_verbs + sizeof(ctr_verbs) / sizeof(ctr_verbs[0]) && strcmp(v->name, argv[0]))
        v++;
    if (wants_help(argc, argv, v->usage))
        return 0;
    struct ctr_opts o = { .timeout = 10, .signal = SIGKILL, .tail = -1, .keys = CTR_DETACH_KEYS_DEFAULT };
    int first, r = ctr_parse_opts(v->name, v->accept, argc, argv, &o, &first);
    if (r)
        return r;
    if (o.flags & (CO_ATTACH | CO_INTERACTIVE)) {
        if (argc - first != 1) {
            fprintf(stderr, "berth start: -a/-i attach to one container: name exactly one (see --help)\n");
            return 125;
        }
        return attach_cli_start(argv[first], o.flags & CO_INTERACTIVE, o.keys);
    }
    if (v->action == act_logs && argc - first > 1) {
        /* One stream, as docker logs: two containers' lines interleaved would not say whose they are. */
        fprintf(stderr, "berth logs: one container at a time ('%s' and '%s' given; see --help)\n", argv[first],
                argv[first + 1]);
        return 125;
    }
    if (v->action == act_inspect && first < argc)
        o.out = json_array(); /* printed even when no name was found: "[]", as docker and berth image inspect */
    r = for_each_named(v, first, argc, argv, &o);
    if (o.out) {
        json_dumpf(o.out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
        json_decref(o.out);
    }
    return r;
}

/* "15 minutes ago", as berth images says it (and docker ps); with ago false, "15 minutes". */
static void since_text(time_t when, bool ago, char *buf, size_t cap)
{
    image_cli_ago(when ? when : 1, buf, cap);
    size_t n = strlen(buf);
    if (!ago && n > 4 && !strcmp(buf + n - 4, " ago"))
        buf[n - 4] = '\0';
}

static void status_text(const struct ctr_record *r, char *buf, size_t cap)
{
    char since[48];
    if (!strcmp(r->state, "running") || !strcmp(r->state, "paused")) {
        since_text(r->started, false, since, sizeof(since));
        snprintf(buf, cap, "Up %s%s", since, !strcmp(r->state, "paused") ? " (Paused)" : "");
    } else if (!strcmp(r->state, "exited")) {
        since_text(r->finished, true, since, sizeof(since));
        snprintf(buf, cap, "Exited (%d) %s", r->exit_code, since);
    } else {
        snprintf(buf, cap, "Created");
    }
}

/* How `berth ps` prints its rows. */
struct ps_opts {
    bool all, json, quiet, no_trunc;
};

/* The VM rows of `berth ps --all-kinds`. */
static void list_vms(json_t *arr, const struct ps_opts *po)
{
    bool all = po->all, json = po->json;
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    struct vm_record *vms = NULL;
    size_t n = 0;
    if (vm_store_open(&s, &err) < 0 || vm_record_list(s, &vms, &n, &err) < 0) {
        fprintf(stderr, "berth ps: VMs: %s\n", berth_error_message(&err));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        vm_refresh_state(s, &vms[i], NULL);
        bool running = !strcmp(vms[i].state, "running");
        if (!all && !running)
            continue;
        if (json) {
            json_t *j = vm_record_to_json(&vms[i]);
            json_object_set_new(j, "kind", json_string("vm"));
            json_array_append_new(arr, j);
            continue;
        }
        if (po->quiet) {
            printf("%.*s\n", po->no_trunc ? 64 : 12, vms[i].id);
            continue;
        }
        char status[96], command[64] = "", since[48];
        if (running) {
            since_text(vms[i].started, false, since, sizeof(since));
            snprintf(status, sizeof(status), "Up %s (%s)", since, vms[i].running_backend);
        } else if (vms[i].finished) {
            since_text(vms[i].finished, true, since, sizeof(since));
            snprintf(status, sizeof(status), "Stopped %s", since);
        } else {
            snprintf(status, sizeof(status), "Created");
        }
        size_t k;
        json_t *x;
        json_array_foreach(vms[i].args, k, x) {
            size_t len = strlen(command);
            snprintf(command + len, sizeof(command) - len, "%s%s", k ? " " : "", json_string_value(x));
        }
        printf("%-9s  %-*.*s  %-24.24s  %-24.24s  %-30s  %s\n", "vm", po->no_trunc ? 64 : 12,
               po->no_trunc ? 64 : 12, vms[i].id,
               vms[i].image[0] ? vms[i].image : vms[i].template_name, command, status, vms[i].name);
    }
    vm_record_list_free(vms, n);
}

int cmd_ctr_ps(int argc, char **argv)
{
    static const char usage[] =
        "Usage: berth ps [-a] [-q] [--no-trunc] [--all-kinds] [--format text|json]\n\n"
        "Lists running containers.\n\n"
        "Options:\n"
        "  -a, --all            also containers that are not running\n"
        "  -q, --quiet          ids only, one per line\n"
        "      --no-trunc       full ids\n"
        "      --all-kinds      VMs in the same table (KIND column)\n"
        "      --format FORMAT  text (default) or json\n"
        "  -h, --help           this text\n";
    if (wants_help(argc, argv, usage))
        return 0;
    bool kinds = false;
    struct ps_opts po = { 0 };
    const char *format = "text";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--all"))
            po.all = true;
        else if (!strcmp(a, "--quiet"))
            po.quiet = true;
        else if (!strcmp(a, "--no-trunc"))
            po.no_trunc = true;
        else if (!strcmp(a, "--all-kinds"))
            kinds = true;
        else if (!strncmp(a, "--format=", 9))
            format = a + 9;
        else if (!strcmp(a, "--format")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "berth ps: --format needs a value (text or json)\n");
                return 125;
            }
            format = argv[++i];
        } else if (a[0] == '-' && a[1] && a[1] != '-' && strspn(a + 1, "aq") == strlen(a + 1)) {
            /* -a, -q and docker's habitual bundles -aq, -qa */
            po.all |= strchr(a, 'a') != NULL;
            po.quiet |= strchr(a, 'q') != NULL;
        } else {
            fprintf(stderr, "berth ps: unknown %s '%s' (see --help)\n", a[0] == '-' ? "option" : "argument", a);
            return 125;
        }
    }
    bool all = po.all;
    po.json = !strcmp(format, "json");
    if (strcmp(format, "text") && strcmp(format, "json")) {
        fprintf(stderr, "berth ps: unknown --format '%s' (expected text or json)\n", format);
        return 125;
    }
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    struct ctr_record *list = NULL;
    size_t n = 0;
    if (ctr_store_open(&s, &err) < 0 || ctr_record_list(s, &list, &n, &err) < 0) {
        fprintf(stderr, "berth ps: %s\n", berth_error_message(&err));
        return 125;
    }
    json_t *arr = json_array();
    if (po.quiet && !po.json)
        ; /* no header */
    else if (!strcmp(format, "text") && kinds)
        printf("%-9s  %-*s  %-24s  %-24s  %-30s  %s\n", "KIND", po.no_trunc ? 64 : 12, "ID", "IMAGE", "COMMAND",
               "STATUS", "NAMES");
    else if (!strcmp(format, "text"))
        printf("%-*s  %-24s  %-24s  %-30s  %s\n", po.no_trunc ? 64 : 12, "CONTAINER ID", "IMAGE", "COMMAND", "STATUS",
               "NAMES");
    for (size_t i = 0; i < n; i++) {
        ctr_refresh(s, &list[i], NULL);
        if (!all && strcmp(list[i].state, "running") && strcmp(list[i].state, "paused"))
            continue;
        if (!strcmp(format, "json")) {
            json_t *j = ctr_record_to_json(&list[i]);
            if (kinds)
                json_object_set_new(j, "kind", json_string("container"));
            json_array_append_new(arr, j);
            continue;
        }
        if (po.quiet) {
            printf("%.*s\n", po.no_trunc ? 64 : 12, list[i].id);
            continue;
        }
        char status[64], command[64] = "";
        status_text(&list[i], status, sizeof(status));
        json_t *cmd = json_object_get(list[i].spec, "cmd");
        size_t k;
        json_t *x;
        json_array_foreach(cmd, k, x) {
            size_t len = strlen(command);
            snprintf(command + len, sizeof(command) - len, "%s%s", k ? " " : "", json_string_value(x));
        }
        if (kinds)
            printf("%-9s  ", "container");
        printf("%-*.*s  %-24.24s  %-24.24s  %-30s  %s\n", po.no_trunc ? 64 : 12, po.no_trunc ? 64 : 12, list[i].id,
               list[i].image, command, status, list[i].name);
    }
    if (kinds)
        list_vms(arr, &po);
    if (!strcmp(format, "json")) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        putchar('\n');
    }
    json_decref(arr);
    ctr_record_list_free(list, n);
    return 0;
}

/* -e KEY=VALUE, or -e KEY: KEY with berth's own value, and nothing when berth has none (as docker
 * exec and berth run do). */
static void exec_add_env(json_t *env, const char *v)
{
    if (strchr(v, '=')) {
        json_array_append_new(env, json_string(v));
        return;
    }
    const char *value = getenv(v);
    char *kv = NULL;
    if (value && asprintf(&kv, "%s=%s", v, value) >= 0)
        json_array_append_new(env, json_string(kv));
    free(kv);
}

int cmd_ctr_exec(int argc, char **argv)
{
    static const char usage[] =
        "Usage: berth exec [-d | -i] [-t] [--detach-keys KEYS] [-e KEY[=VALUE]]... [-w DIR] [-u USER[:GROUP]]\n"
        "                  NAME COMMAND [ARG...]\n\n"
        "Runs a command in a running container; the exit status is the command's. With -it the detach\n"
        "keys (default ctrl-p,ctrl-q) leave the command running in the container and berth exec exits 0;\n"
        "it cannot be attached again (as with Docker).\n\n"
        "Options:\n"
        "  -d, --detach             start the command and return at once (it runs with a pty whose\n"
        "                           output is discarded, until it exits or the container stops)\n"
        "  -i, --interactive        keep stdin open: the command reads berth's stdin (without -i it reads\n"
        "                           /dev/null)\n"
        "  -t, --tty                give the command a pseudo-terminal as its controlling terminal; with -i\n"
        "                           and a terminal on stdin, that terminal is in raw mode until the command\n"
        "                           exits or is detached, and its size follows the window (-it needs stdin\n"
        "                           to be a terminal)\n"
        "      --detach-keys KEYS   the detach sequence for -it: comma-separated characters or ctrl-X\n"
        "                           (X: a-z @ [ \\ ] ^ _); '' disables detaching. Without -t input is data\n"
        "                           and never detaches (as Docker)\n"
        "  -e, --env KEY[=VALUE]    set an environment variable (repeatable; KEY alone passes berth's\n"
        "                           own KEY, if set)\n"
        "  -w, --workdir DIR        working directory\n"
        "  -u, --user USER[:GROUP]  user and group: names (from the container's /etc/passwd and\n"
        "                           /etc/group) or ids; default the container's user\n"
        "      --help               this text\n";
    _cleanup_json_ json_t *env = json_array();
    const char *cwd = NULL, *user = NULL;
    const char *keys = CTR_DETACH_KEYS_DEFAULT;
    bool interactive = false, tty = false, detach = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strncmp(a, "--detach-keys=", 14)) {
            keys = a + 14;
        } else if (!strcmp(a, "--detach-keys")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "berth exec: --detach-keys needs a value (see --help)\n");
                return 125;
            }
            keys = argv[++i];
        } else if (!strcmp(a, "--interactive")) {
            interactive = true;
        } else if (!strcmp(a, "--detach")) {
            detach = true;
        } else if (!strcmp(a, "--tty")) {
            tty = true;
        } else if (!strcmp(a, "--env") || !strcmp(a, "--workdir") || !strcmp(a, "--user")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "berth exec: %s needs a value (see --help)\n", a);
                return 125;
            }
            const char *v = argv[++i];
            if (a[2] == 'e')
                exec_add_env(env, v);
            else if (a[2] == 'w')
                cwd = v;
            else
                user = v;
        } else if (a[1] != '-' && a[1]) {
            /* Short options, bundled like -it or -ie KEY=VALUE. */
            for (const char *c = a + 1; *c; c++) {
                if (*c == 'd') {
                    detach = true;
                } else if (*c == 'i') {
                    interactive = true;
                } else if (*c == 't') {
                    tty = true;
                } else if (*c == 'e' || *c == 'w' || *c == 'u') {
                    const char *v = c[1] ? c + 1 : i + 1 < argc ? argv[++i] : NULL;
                    if (!v) {
                        fprintf(stderr, "berth exec: -%c needs a value (see --help)\n", *c);
                        return 125;
                    }
                    if (*c == 'e')
                        exec_add_env(env, v);
                    else if (*c == 'w')
                        cwd = v;
                    else
                        user = v;
                    break;
                } else {
                    fprintf(stderr, "berth exec: unknown option '-%c' (see --help)\n", *c);
                    return 125;
                }
            }
        } else {
            fprintf(stderr, "berth exec: unknown option '%s' (see --help)\n", a);
            return 125;
        }
    }
    if (argc - i < 2) {
        fprintf(stderr, "berth exec: a container and a command are needed (see --help)\n");
        return 125;
    }
    if (detach && interactive) {
        fprintf(stderr, "berth exec: -d and -i cannot be combined: a detached command has no input\n");
        return 125;
    }
    if (tty && interactive && !isatty(STDIN_FILENO)) {
        /* Docker's answer and status: -it promises a terminal that is not there (use -i alone to
         * pipe input). */
        fprintf(stderr, "berth exec: the input device is not a TTY\n");
        return 1;
    }
    struct berth_error err = { 0 };
    struct ctr_attach att = { .sock = -1 };
    if (ctr_parse_detach_keys(keys, att.detach_keys, &att.n_detach_keys, &err) < 0) {
        fprintf(stderr, "berth exec: %s\n", berth_error_message(&err));
        return 125;
    }
    _cleanup_store_ struct store *s = NULL;
    struct ctr_record rec;
    if (ctr_store_open(&s, &err) < 0 || ctr_record_find(s, argv[i], &rec, &err) < 0) {
        fprintf(stderr, "berth exec: %s\n", berth_error_message(&err));
        return 125;
    }
    ctr_refresh(s, &rec, NULL);
    _cleanup_json_ json_t *args = json_array();
    for (int k = i + 1; k < argc; k++)
        json_array_append_new(args, json_string(argv[k]));
    if (detach) {
        /* docker exec -d: the -it machinery, detached at once. The process runs under a monitor
         * of its own (with a pty, whose output nobody reads) until it exits. */
        int sock = -1;
        pid_t pid = 0, mon = 0;
        int r = ctr_exec_monitored(&rec, args, env, cwd, user, &sock, &pid, &mon, &err);
        ctr_record_clear(&rec);
        if (r < 0) {
            fprintf(stderr, "berth exec: %s\n", berth_error_message(&err));
            return cli_start_failure_status(&err, err.code == -EINVAL ? 125 : 126);
        }
        close(sock);
        return 0;
    }
    if (tty && interactive) {
        /* Under a monitor of its own, so that detaching leaves it running. */
        int rc = attach_cli_exec(&att, &rec, args, env, cwd, user);
        ctr_record_clear(&rec);
        return rc;
    }
    if (!interactive) {
        /* Docker: without -i the command's stdin is empty, whatever berth's is. */
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
    }
    int status = 0;
    int r = ctr_exec(&rec, args, env, cwd, user, tty, &status, &err);
    ctr_record_clear(&rec);
    if (r < 0) {
        fprintf(stderr, "berth exec: %s\n", berth_error_message(&err));
        /* A container that is not running, a bad -u or -e is berth's error (125); the runtime
         * failing to start the process, docker's 126. */
        return cli_start_failure_status(&err, err.code == -EINVAL ? 125 : 126);
    }
    return status;
}

/* Internal: berth-monitor runs this when a container's init exited. */
int cmd_ctr_container_exited(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    bool keep = argc > 2 && !strcmp(argv[2], "--keep");
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    struct ctr_record rec;
    if (ctr_store_open(&s, &err) < 0 || ctr_record_find(s, argv[1], &rec, &err) < 0)
        return 1;
    int r = ctr_exited(s, &rec, keep, &err);
    ctr_record_clear(&rec);
    return r < 0 ? 1 : 0;
}

int cmd_ctr_container(int argc, char **argv)
{
    static const char usage[] = "Usage: berth container prune [-f]\n\nRemoves every container that is not running "
                                "and prints their ids (-f is accepted: prune never asks).\n";
    if (argc < 2) {
        fprintf(stderr, "berth container: a subcommand is needed (prune; see --help)\n");
        return 125;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "prune")) {
        fprintf(stderr, "berth container: unknown subcommand '%s' (expected prune)\n", argv[1]);
        return 125;
    }
    /* Every option is read before anything is removed: `prune --help` must not prune. */
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "-f") && strcmp(argv[i], "--force")) {
            fprintf(stderr, "berth container prune: unknown %s '%s' (see --help)\n",
                    argv[i][0] == '-' ? "option" : "argument", argv[i]);
            return 125;
        }
    }
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    struct ctr_record *list = NULL;
    size_t n = 0;
    if (ctr_store_open(&s, &err) < 0 || ctr_record_list(s, &list, &n, &err) < 0) {
        fprintf(stderr, "berth container prune: %s\n", berth_error_message(&err));
        return 125;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        ctr_refresh(s, &list[i], NULL);
        if (!strcmp(list[i].state, "running") || !strcmp(list[i].state, "paused"))
            continue;
        if (ctr_remove(s, &list[i], false, &err) < 0) {
            fprintf(stderr, "berth container prune: %s\n", berth_error_message(&err));
            berth_error_clear(&err);
            rc = 1;
        } else {
            printf("%s\n", list[i].id);
        }
    }
    ctr_record_list_free(list, n);
    return rc;
}
