/* berth attach: connect the terminal to a running container's monitor (its pty or stdio), detach
 * with the detach keys; and the session loop berth run -i/-t shares. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach-cli.h"
#include "base/cleanup.h"
#include "commands.h"
#include "exit-status.h"
#include "containers/run.h"
#include "store/store.h"

void attach_cli_setup(struct ctr_attach *a, const struct ctr_record *rec, bool want_input)
{
    a->tty = json_is_true(json_object_get(rec->spec, "tty"));
    a->send_input = want_input && json_is_true(json_object_get(rec->spec, "interactive"));
    if (!a->tty)
        a->n_detach_keys = 0; /* as Docker: piped input is data, ctrl-p ctrl-q in it included */
    a->in_fd = STDIN_FILENO;
    a->out_fd = STDOUT_FILENO;
    a->err_fd = STDERR_FILENO;
}

int attach_cli_session(struct store *s, struct ctr_record *rec, struct ctr_attach *a, const char *verb)
{
    for (;;) {
        struct berth_error err = { 0 };
        int value = 0;
        int r = ctr_attach_run(a, &value, &err);
        if (r < 0) {
            fprintf(stderr, "berth %s: %s\n", verb, berth_error_message(&err));
            return 125;
        }
        switch (r) {
        case CTR_ATTACH_EXITED:
            return value;
        case CTR_ATTACH_DETACHED:
            return ATTACH_CLI_DETACHED;
        case CTR_ATTACH_SIGNALED:
            if (value == SIGHUP)
                return ATTACH_CLI_DETACHED;
            ctr_kill(s, rec, value, NULL);
            continue;
        default:
            /* The monitor went away without telling (killed): the record knows what is left. */
            ctr_wait(s, rec, 10000, NULL);
            return rec->exit_code >= 0 ? rec->exit_code : 125;
        }
    }
}

int attach_cli_exec(struct ctr_attach *a, struct ctr_record *rec, json_t *args, json_t *env, const char *cwd,
                    const char *user)
{
    struct berth_error err = { 0 };
    pid_t pid = 0, mon = 0;
    if (ctr_exec_monitored(rec, args, env, cwd, user, &a->sock, &pid, &mon, &err) < 0) {
        fprintf(stderr, "berth exec: %s\n", berth_error_message(&err));
        return cli_start_failure_status(&err, err.code == -EINVAL ? 125 : 126);
    }
    a->tty = true;
    a->send_input = true;
    a->in_fd = STDIN_FILENO;
    a->out_fd = STDOUT_FILENO;
    a->err_fd = STDERR_FILENO;
    int r, value = 0;
    /* In raw mode the user's ^C is a byte for the pty; a signal that reaches us came from elsewhere
     * and is the process's, as for an exec without a terminal. */
    while ((r = ctr_attach_run(a, &value, &err)) == CTR_ATTACH_SIGNALED)
        kill(pid, value);
    close(a->sock);
    if (r == CTR_ATTACH_EXITED || r == CTR_ATTACH_CLOSED)
        waitpid(mon, NULL, 0); /* it ends right after the status; detached, it goes on without us */
    if (r < 0)
        fprintf(stderr, "berth exec: %s\n", berth_error_message(&err));
    else if (r == CTR_ATTACH_CLOSED)
        fprintf(stderr, "berth exec: the process's monitor went away without its exit status\n");
    return r == CTR_ATTACH_EXITED ? value : r == CTR_ATTACH_DETACHED ? 0 : 125;
}

int attach_cli_start(const char *what, bool interactive, const char *detach_keys)
{
    struct ctr_attach a = { .sock = -1 };
    struct berth_error err = { 0 };
    if (ctr_parse_detach_keys(detach_keys, a.detach_keys, &a.n_detach_keys, &err) < 0) {
        fprintf(stderr, "berth start: %s\n", berth_error_message(&err));
        return 125;
    }
    _cleanup_store_ struct store *s = NULL;
    struct ctr_record rec;
    if (ctr_store_open(&s, &err) < 0 || ctr_record_find(s, what, &rec, &err) < 0) {
        fprintf(stderr, "berth start: %s\n", berth_error_message(&err));
        return 125;
    }
    bool tty = json_is_true(json_object_get(rec.spec, "tty"));
    if (interactive && tty && json_is_true(json_object_get(rec.spec, "interactive")) && !isatty(STDIN_FILENO)) {
        fprintf(stderr, "berth start: the input device is not a TTY\n");
        ctr_record_clear(&rec);
        return 1;
    }
    struct ctr_start_opts so = { .ret_attach = &a.sock };
    struct winsize ws;
    if (tty && (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)) {
        so.rows = ws.ws_row;
        so.cols = ws.ws_col;
    }
    int rc;
    if (ctr_start_with(s, &rec, &so, &err) < 0) {
        fprintf(stderr, "berth start: %s\n", berth_error_message(&err));
        rc = 125;
    } else {
        attach_cli_setup(&a, &rec, interactive);
        rc = attach_cli_session(s, &rec, &a, "start");
        close(a.sock);
        if (rc == ATTACH_CLI_DETACHED)
            rc = 0;
    }
    ctr_record_clear(&rec);
    return rc;
}

int cmd_ctr_attach(int argc, char **argv)
{
    static const char usage[] =
        "Usage: berth attach [--detach-keys KEYS] [--no-stdin] NAME\n\n"
        "Connects the terminal to a running container: its output is printed and, for a container\n"
        "started with -i, the input is sent to it; with -t the terminal is in raw mode and the\n"
        "container's pty follows its size. The detach keys (default ctrl-p,ctrl-q) leave the\n"
        "container running; when it exits, berth attach exits with its status.\n\n"
        "Options:\n"
        "      --detach-keys KEYS   the detach sequence: comma-separated characters or ctrl-X\n"
        "                           (X: a-z @ [ \\ ] ^ _); '' disables detaching\n"
        "      --no-stdin           do not send input\n"
        "      --help               this text\n";
    const char *keys = CTR_DETACH_KEYS_DEFAULT;
    bool want_input = true;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--detach-keys") && i + 1 < argc) {
            keys = argv[++i];
        } else if (!strncmp(argv[i], "--detach-keys=", 14)) {
            keys = argv[i] + 14;
        } else if (!strcmp(argv[i], "--no-stdin")) {
            want_input = false;
        } else {
            fprintf(stderr, "berth attach: unknown option '%s' (see --help)\n", argv[i]);
            return 125;
        }
    }
    if (argc - i != 1) {
        fprintf(stderr, "berth attach: one container name or id is needed (see --help)\n");
        return 125;
    }
    struct ctr_attach a = { .sock = -1 };
    struct berth_error err = { 0 };
    if (ctr_parse_detach_keys(keys, a.detach_keys, &a.n_detach_keys, &err) < 0) {
        fprintf(stderr, "berth attach: %s\n", berth_error_message(&err));
        return 125;
    }
    _cleanup_store_ struct store *s = NULL;
    struct ctr_record rec;
    if (ctr_store_open(&s, &err) < 0 || ctr_record_find(s, argv[i], &rec, &err) < 0) {
        fprintf(stderr, "berth attach: %s\n", berth_error_message(&err));
        return 125;
    }
    int rc = 125;
    ctr_refresh(s, &rec, NULL);
    if (strcmp(rec.state, "running") && strcmp(rec.state, "paused")) {
        fprintf(stderr, "berth attach: container %s is not running: start it first\n", rec.name);
    } else if (ctr_attach_connect(rec.id, rec.name, &a.sock, &err) < 0) {
        fprintf(stderr, "berth attach: %s\n", berth_error_message(&err));
    } else {
        attach_cli_setup(&a, &rec, want_input);
        rc = attach_cli_session(s, &rec, &a, "attach");
        close(a.sock);
        if (rc == ATTACH_CLI_DETACHED)
            rc = 0;
    }
    ctr_record_clear(&rec);
    return rc;
}
