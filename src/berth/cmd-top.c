/* berth top: the processes of a running container (the pids of its cgroup). Without ps options
 * berth reads /proc itself; with them it runs the host's ps with those options and keeps the
 * rows whose PID belongs to the container, as docker top does. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strv.h"
#include "commands.h"
#include "containers/stats.h"
#include "store/store.h"

static const char usage[] =
    "Usage: berth top [--format text|json] NAME [PS-OPTIONS...]\n\n"
    "Lists the processes of a running container (every process in its cgroup), with host pids.\n"
    "Without PS-OPTIONS: USER PID PPID STAT STIME TIME CMD, read from /proc. With them (for example\n"
    "`berth top web aux` or `-o pid,comm`), runs ps with those options and keeps the container's\n"
    "rows. --format json prints one object per process (by ps's column titles with PS-OPTIONS).\n";

static void user_name(uid_t uid, char *buf, size_t cap)
{
    struct passwd *pw = getpwuid(uid);
    if (pw)
        snprintf(buf, cap, "%s", pw->pw_name);
    else
        snprintf(buf, cap, "%u", (unsigned) uid);
}

static int top_builtin(const struct ctr_process *p, size_t n, bool json)
{
    json_t *arr = json ? json_array() : NULL;
    if (!json)
        printf("%-10s  %7s  %7s  %-4s  %-5s  %8s  %s\n", "USER", "PID", "PPID", "STAT", "STIME", "TIME", "CMD");
    time_t now = time(NULL);
    for (size_t i = 0; i < n; i++) {
        char user[64], stime[16], cpu[32];
        user_name(p[i].uid, user, sizeof(user));
        time_t st = (time_t) p[i].start_time;
        struct tm tm;
        localtime_r(&st, &tm);
        strftime(stime, sizeof(stime), now - st < 24 * 3600 ? "%H:%M" : "%b%d", &tm);
        uint64_t secs = p[i].cpu_ns / 1000000000ull;
        snprintf(cpu, sizeof(cpu), "%02llu:%02llu:%02llu", (unsigned long long) (secs / 3600),
                 (unsigned long long) (secs / 60 % 60), (unsigned long long) (secs % 60));
        if (json) {
            json_array_append_new(arr, json_pack("{s:i, s:i, s:s, s:i, s:s#, s:I, s:I, s:I, s:s}", "pid", (int) p[i].pid,
                                                 "ppid", (int) p[i].ppid, "user", user, "uid", (int) p[i].uid, "state",
                                                 &p[i].state, (size_t) 1, "cpu_time_ns", (json_int_t) p[i].cpu_ns,
                                                 "rss", (json_int_t) p[i].rss, "start_time",
                                                 (json_int_t) p[i].start_time, "cmd", p[i].cmd));
        } else {
            printf("%-10s  %7d  %7d  %-4c  %-5s  %8s  %s\n", user, (int) p[i].pid, (int) p[i].ppid, p[i].state, stime,
                   cpu, p[i].cmd);
        }
    }
    if (json) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(arr);
    }
    return 0;
}

/* Splits a ps line into at most n_titles fields; the last one keeps the rest of the line (CMD). */
static char **split_fields(const char *line, size_t n_titles)
{
    char **v = NULL;
    const char *p = line;
    for (size_t i = 0; i < n_titles; i++) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *end = i + 1 == n_titles ? p + strlen(p) : strchr(p, ' ');
        if (!end)
            end = p + strlen(p);
        _cleanup_free_ char *f = strndup(p, (size_t) (end - p));
        if (!f || strv_push(&v, f) < 0) {
            strv_free(v);
            return NULL;
        }
        p = end;
    }
    return v;
}

static int top_ps(char **opts, int n_opts, const struct ctr_process *p, size_t n, bool json)
{
    /* ps's complaints come back on a pipe of their own: the first line goes into berth's one-line
     * error, instead of ps's whole usage text on the terminal. A pipe holds far more than ps says. */
    int pipefd[2], errfd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(errfd, O_CLOEXEC) < 0) {
        int e = -errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return e;
    }
    pid_t child = fork();
    if (child < 0)
        return -errno;
    if (child == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(errfd[1], STDERR_FILENO);
        char **argv = calloc((size_t) n_opts + 2, sizeof(char *));
        if (!argv)
            _exit(127);
        argv[0] = (char *) "ps";
        for (int i = 0; i < n_opts; i++)
            argv[i + 1] = opts[i];
        execvp("ps", argv);
        _exit(127);
    }
    close(pipefd[1]);
    close(errfd[1]);
    _cleanup_close_ int errread = errfd[0];
    FILE *f = fdopen(pipefd[0], "r");
    if (!f) {
        close(pipefd[0]);
        waitpid(child, NULL, 0);
        return -ENOMEM;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    _cleanup_strv_ char **titles = NULL;
    long pid_col = -1;
    json_t *arr = json ? json_array() : NULL;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (!titles) {
            titles = split_fields(line, (size_t) -1);
            for (size_t i = 0; titles && titles[i]; i++)
                if (!strcmp(titles[i], "PID"))
                    pid_col = (long) i;
            if (!json && pid_col >= 0)
                puts(line);
            continue;
        }
        if (pid_col < 0)
            continue;
        _cleanup_strv_ char **fields = split_fields(line, strv_length(titles));
        if (!fields || strv_length(fields) <= (size_t) pid_col)
            continue;
        pid_t pid = (pid_t) atoi(fields[pid_col]);
        bool mine = false;
        for (size_t i = 0; i < n && !mine; i++)
            mine = p[i].pid == pid;
        if (!mine)
            continue;
        if (json) {
            json_t *o = json_object();
            for (size_t i = 0; fields[i]; i++)
                json_object_set_new(o, titles[i], json_string(fields[i]));
            json_array_append_new(arr, o);
        } else {
            puts(line);
        }
    }
    free(line);
    fclose(f);
    int status = 0;
    waitpid(child, &status, 0);
    int rc = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char why[256] = "";
        ssize_t got = read(errread, why, sizeof(why) - 1);
        why[got > 0 ? got : 0] = '\0';
        why[strcspn(why, "\n")] = '\0';
        fprintf(stderr, "berth top: ps refused these options (exit status %d)%s%s\n",
                WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), why[0] ? ": " : "", why);
        rc = 1;
    } else if (pid_col < 0) {
        fprintf(stderr, "berth top: ps output has no PID column: add pid to the options (e.g. -o pid,comm)\n");
        rc = 1;
    }
    if (json) {
        if (!rc) {
            json_dumpf(arr, stdout, JSON_INDENT(2));
            putchar('\n');
        }
        json_decref(arr);
    }
    return rc;
}

int cmd_ctr_top(int argc, char **argv)
{
    const char *format = "text";
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--format")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "berth top: --format needs a value (text or json)\n");
                return 125;
            }
            format = argv[++i];
        } else if (!strncmp(argv[i], "--format=", 9)) {
            format = argv[i] + 9;
        } else {
            fprintf(stderr, "berth top: unknown option '%s' before the container name (see --help)\n", argv[i]);
            return 125;
        }
    }
    bool json = !strcmp(format, "json");
    if (!json && strcmp(format, "text")) {
        fprintf(stderr, "berth top: unknown --format '%s' (expected text or json)\n", format);
        return 125;
    }
    if (i >= argc) {
        fprintf(stderr, "berth top: a container name or id is needed (see --help)\n");
        return 125;
    }
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    struct ctr_record rec;
    if (ctr_store_open(&s, &err) < 0 || ctr_record_find(s, argv[i], &rec, &err) < 0) {
        fprintf(stderr, "berth top: %s\n", berth_error_message(&err));
        return 1;
    }
    ctr_refresh(s, &rec, NULL);
    struct ctr_process *procs = NULL;
    size_t n = 0;
    int r = ctr_processes(&rec, &procs, &n, &err);
    ctr_record_clear(&rec);
    if (r < 0) {
        fprintf(stderr, "berth top: %s\n", berth_error_message(&err));
        return 1;
    }
    int rc = i + 1 < argc ? top_ps(argv + i + 1, argc - i - 1, procs, n, json) : top_builtin(procs, n, json);
    if (rc < 0) {
        fprintf(stderr, "berth top: running ps: %s\n", strerror(-rc));
        rc = 1;
    }
    ctr_processes_free(procs, n);
    return rc;
}
