#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

#define MAX_ARGS 256

/* Builds a NULL-terminated vector from a JSON array of strings; NULL if it is not one. */
static char **string_vector(json_t *arr)
{
    if (!json_is_array(arr) || json_array_size(arr) > MAX_ARGS)
        return NULL;
    size_t n = json_array_size(arr);
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s) {
            free(v);
            return NULL;
        }
        v[i] = (char *) s;
    }
    return v;
}

int agent_spawn(json_t *request, int stdin_fd, int stdout_fd, int stderr_fd, int *ret_pid)
{
    char **argv = string_vector(json_object_get(request, "args"));
    if (!argv || !argv[0]) {
        free(argv);
        return -EINVAL;
    }
    json_t *env_json = json_object_get(request, "env");
    char **envp = env_json ? string_vector(env_json) : NULL;
    static char *default_env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
                                   "TERM=xterm", NULL };
    const char *cwd = json_string_value(json_object_get(request, "cwd"));
    json_int_t uid = json_integer_value(json_object_get(request, "uid"));
    json_int_t gid = json_integer_value(json_object_get(request, "gid"));

    pid_t pid = fork();
    if (pid < 0) {
        int r = -errno;
        free(argv);
        free(envp);
        return r;
    }
    if (pid == 0) {
        setsid();
        dup2(stdin_fd, 0);
        dup2(stdout_fd, 1);
        dup2(stderr_fd, 2);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        if (cwd && chdir(cwd) < 0) {
            fprintf(stderr, "berth-agent: cwd %s: %s\n", cwd, strerror(errno));
            _exit(126);
        }
        if (gid && (setgroups(0, NULL) < 0 || setgid((gid_t) gid) < 0)) {
            fprintf(stderr, "berth-agent: gid %lld: %s\n", (long long) gid, strerror(errno));
            _exit(126);
        }
        if (uid && setuid((uid_t) uid) < 0) {
            fprintf(stderr, "berth-agent: uid %lld: %s\n", (long long) uid, strerror(errno));
            _exit(126);
        }
        char **use_env = envp ? envp : default_env;
        for (char **e = use_env; *e; e++)
            if (!strncmp(*e, "PATH=", 5))
                setenv("PATH", *e + 5, 1);
        execvpe(argv[0], argv, use_env);
        fprintf(stderr, "berth-agent: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    free(argv);
    free(envp);
    *ret_pid = pid;
    return 0;
}
