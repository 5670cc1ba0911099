/* berth-probe: a static program run inside containers by the e2e tests. It reports what it sees
 * as one JSON object on stdout: ids, groups, cwd, hostname, namespaces, capabilities, seccomp
 * mode, no_new_privs, umask, rlimits, open fds, mounts, environment, oom_score_adj.
 *
 *   berth-probe                 report
 *   berth-probe read FILE       report, plus "read": FILE's content or the error
 *   berth-probe write FILE TXT  report, plus "write": "ok" or the error
 *   berth-probe exit N          exit with status N
 *   berth-probe sleep SECS      sleep (a long-running container process)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static void put_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void key(const char *k, int *first)
{
    if (!*first)
        putchar(',');
    *first = 0;
    put_str(k);
    putchar(':');
}

static void status_field(const char *name, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return;
    char line[512];
    size_t n = strlen(name);
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, name, n) && line[n] == ':') {
            char *v = line + n + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, size, "%s", v);
            break;
        }
    }
    fclose(f);
}

static void report_file_op(const char *op, const char *path, const char *text)
{
    if (!strcmp(op, "read")) {
        FILE *f = fopen(path, "r");
        if (!f) {
            printf("\"error: %s\"", strerror(errno));
            return;
        }
        char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        put_str(buf);
    } else {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, text, strlen(text)) < 0) {
            printf("\"error: %s\"", strerror(errno));
            if (fd >= 0)
                close(fd);
            return;
        }
        close(fd);
        put_str("ok");
    }
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "exit"))
        return atoi(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "sleep")) {
        sleep((unsigned) atoi(argv[2]));
        return 0;
    }
    int first = 1;
    char buf[4096];
    putchar('{');
    key("pid", &first);
    printf("%d", (int) getpid());
    key("ppid", &first);
    printf("%d", (int) getppid());
    key("uid", &first);
    printf("%u", getuid());
    key("gid", &first);
    printf("%u", getgid());
    key("euid", &first);
    printf("%u", geteuid());
    key("groups", &first);
    gid_t groups[256];
    int ng = getgroups(256, groups);
    putchar('[');
    for (int i = 0; i < ng; i++)
        printf("%s%u", i ? "," : "", groups[i]);
    putchar(']');
    key("cwd", &first);
    put_str(getcwd(buf, sizeof(buf)) ? buf : "?");
    key("hostname", &first);
    gethostname(buf, sizeof(buf));
    put_str(buf);
    key("domainname", &first);
    if (getdomainname(buf, sizeof(buf)) < 0)
        buf[0] = '\0';
    put_str(buf);

    key("ns", &first);
    putchar('{');
    const char *ns[] = { "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts" };
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        printf("%s", i ? "," : "");
        put_str(ns[i]);
        putchar(':');
        put_str(buf);
    }
    putchar('}');

    const char *fields[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "Seccomp", "NoNewPrivs", "Umask" };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        status_field(fields[i], buf, sizeof(buf));
        key(fields[i], &first);
        put_str(buf);
    }

    key("rlimits", &first);
    putchar('{');
    const struct {
        const char *name;
        int res;
    } lims[] = { { "RLIMIT_NOFILE", RLIMIT_NOFILE }, { "RLIMIT_NPROC", RLIMIT_NPROC },
                 { "RLIMIT_CORE", RLIMIT_CORE },     { "RLIMIT_STACK", RLIMIT_STACK },
                 { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_CPU", RLIMIT_CPU } };
    for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
        struct rlimit rl;
        getrlimit(lims[i].res, &rl);
        printf("%s\"%s\":[%lld,%lld]", i ? "," : "", lims[i].name,
               rl.rlim_cur == RLIM_INFINITY ? -1LL : (long long) rl.rlim_cur,
               rl.rlim_max == RLIM_INFINITY ? -1LL : (long long) rl.rlim_max);
    }
    putchar('}');

    key("fds", &first);
    putchar('{');
    DIR *d = opendir("/proc/self/fd");
    int firstfd = 1, self = d ? dirfd(d) : -1;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || atoi(de->d_name) == self)
            continue;
        char path[300];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        printf("%s", firstfd ? "" : ",");
        firstfd = 0;
        put_str(de->d_name);
        putchar(':');
        put_str(buf);
    }
    if (d)
        closedir(d);
    putchar('}');

    key("mounts", &first);
    putchar('[');
    FILE *m = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    int firstm = 1;
    while (m && fgets(line, sizeof(line), m)) {
        /* id parent maj:min root target options [optional...] - fstype source superoptions */
        char *tok[64];
        int nt = 0;
        for (char *t = strtok(line, " \n"); t && nt < 64; t = strtok(NULL, " \n"))
            tok[nt++] = t;
        int dash = -1;
        for (int i = 6; i < nt; i++)
            if (!strcmp(tok[i], "-")) {
                dash = i;
                break;
            }
        if (nt < 6 || dash < 0 || dash + 3 >= nt + 1)
            continue;
        printf("%s{\"target\":", firstm ? "" : ",");
        firstm = 0;
        put_str(tok[4]);
        printf(",\"options\":");
        put_str(tok[5]);
        printf(",\"fstype\":");
        put_str(dash + 1 < nt ? tok[dash + 1] : "");
        printf(",\"source\":");
        put_str(dash + 2 < nt ? tok[dash + 2] : "");
        printf(",\"super\":");
        put_str(dash + 3 < nt ? tok[dash + 3] : "");
        putchar('}');
    }
    if (m)
        fclose(m);
    putchar(']');

    key("env", &first);
    putchar('[');
    for (char **e = environ; *e; e++) {
        printf("%s", e == environ ? "" : ",");
        put_str(*e);
    }
    putchar(']');

    key("oom_score_adj", &first);
    FILE *o = fopen("/proc/self/oom_score_adj", "r");
    int oom = 0;
    if (o) {
        if (fscanf(o, "%d", &oom) != 1)
            oom = 0;
        fclose(o);
    }
    printf("%d", oom);

    if (argc >= 3 && (!strcmp(argv[1], "read") || !strcmp(argv[1], "write"))) {
        key(argv[1], &first);
        report_file_op(argv[1], argv[2], argc >= 4 ? argv[3] : "");
    }
    printf("}\n");
    return 0;
}
