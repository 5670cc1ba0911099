#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "oci-cli.h"
#include "oci/config.h"
#include "runtime/container.h"

static void usage(void)
{
    printf("Usage: berth-oci exec [OPTIONS] CONTAINER-ID [COMMAND [ARGS...]]\n\n"
           "  -p, --process FILE       the process as runtime-spec JSON (instead of COMMAND)\n"
           "  -t, --tty                allocate a pty (needs --console-socket)\n"
           "  --console-socket PATH    send the pty master to this unix socket\n"
           "  -e, --env KEY=VALUE      set an environment variable (repeatable)\n"
           "  --cwd DIR                working directory inside the container\n"
           "  -u, --user UID[:GID]     run as this user\n"
           "  -g, --additional-gids N  add a supplementary group (repeatable)\n"
           "  -c, --cap CAP            add a capability (repeatable)\n"
           "  --no-new-privs           set no_new_privileges\n"
           "  -d, --detach             return once the process runs\n"
           "  --pid-file FILE          write the process's pid to FILE\n"
           "  --preserve-fds N         pass fds 3..3+N-1 to the process\n");
}

static int set_env(json_t *proc, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return -EINVAL;
    json_t *env = json_object_get(proc, "env");
    if (!json_is_array(env)) {
        env = json_array();
        json_object_set_new(proc, "env", env);
    }
    size_t i, klen = (size_t) (eq - kv) + 1;
    json_t *e;
    json_array_foreach(env, i, e) {
        if (json_is_string(e) && !strncmp(json_string_value(e), kv, klen)) {
            json_array_set_new(env, i, json_string(kv));
            return 0;
        }
    }
    return json_array_append_new(env, json_string(kv));
}

static void add_cap(json_t *proc, const char *cap)
{
    json_t *caps = json_object_get(proc, "capabilities");
    if (!json_is_object(caps)) {
        caps = json_object();
        json_object_set_new(proc, "capabilities", caps);
    }
    char name[64];
    snprintf(name, sizeof(name), "%s%s", strncasecmp(cap, "CAP_", 4) ? "CAP_" : "", cap);
    for (char *p = name; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char) (*p - 'a' + 'A');
    const char *sets[] = { "bounding", "effective", "permitted", "inheritable", "ambient" };
    for (size_t i = 0; i < 5; i++) {
        json_t *a = json_object_get(caps, sets[i]);
        if (!json_is_array(a)) {
            a = json_array();
            json_object_set_new(caps, sets[i], a);
        }
        json_array_append_new(a, json_string(name));
    }
}

int cmd_exec(int argc, char **argv)
{
    static const struct option opts[] = {
        { "process", required_argument, NULL, 'p' },
        { "tty", no_argument, NULL, 't' },
        { "console-socket", required_argument, NULL, 'C' },
        { "env", required_argument, NULL, 'e' },
        { "cwd", required_argument, NULL, 'w' },
        { "user", required_argument, NULL, 'u' },
        { "additional-gids", required_argument, NULL, 'g' },
        { "cap", required_argument, NULL, 'c' },
        { "no-new-privs", no_argument, NULL, 'N' },
        { "detach", no_argument, NULL, 'd' },
        { "pid-file", required_argument, NULL, 'P' },
        { "preserve-fds", required_argument, NULL, 'F' },
        { "process-label", required_argument, NULL, 'L' },
        { "apparmor", required_argument, NULL, 'A' },
        { "cgroup", required_argument, NULL, 'G' },
        { "ignore-paused", no_argument, NULL, 'I' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct container_exec_opts o = { .root = oci_globals.root };
    const char *process_file = NULL, *cwd = NULL, *user = NULL;
    bool tty = false, nnp = false;
    const char *envs[256], *gids[256], *caps[64];
    size_t n_env = 0, n_gid = 0, n_cap = 0;
    int c;
    while ((c = getopt_long_only(argc, argv, "+p:te:u:g:c:dh", opts, NULL)) != -1) {
        switch (c) {
        case 'p': process_file = optarg; break;
        case 't': tty = true; break;
        case 'C': o.console_socket = optarg; break;
        case 'e':
            if (n_env == 256)
                return cli_failf("exec: too many --env");
            envs[n_env++] = optarg;
            break;
        case 'w': cwd = optarg; break;
        case 'u': user = optarg; break;
        case 'g':
            if (n_gid == 256)
                return cli_failf("exec: too many --additional-gids");
            gids[n_gid++] = optarg;
            break;
        case 'c':
            if (n_cap == 64)
                return cli_failf("exec: too many --cap");
            caps[n_cap++] = optarg;
            break;
        case 'N': nnp = true; break;
        case 'd': o.detach = true; break;
        case 'P': o.pid_file = optarg; break;
        case 'F': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 0 || n > 65536)
                return cli_failf("exec: --preserve-fds: '%s' is not a count", optarg);
            o.preserve_fds = (int) n;
            break;
        }
        case 'L': case 'A': case 'G': case 'I':
            break;
        case 'h':
            usage();
            return 0;
        default:
            return cli_failf("exec: unknown option '%s'; see 'berth-oci exec --help'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_failf("exec: expected a container id");
    o.id = argv[optind++];
    struct berth_error err = { 0 };
    json_t *proc = NULL;
    int r;
    if (process_file) {
        if ((r = json_load_path(process_file, OCI_CONFIG_MAX, &proc, &err)) < 0)
            return cli_fail(&err, r);
    } else {
        if (optind >= argc)
            return cli_failf("exec: expected a command to run (or --process FILE)");
        json_t *cfg = NULL;
        if ((r = container_config_json(o.root, o.id, &cfg, &err)) < 0)
            return cli_fail(&err, r);
        json_t *base = json_object_get(cfg, "process");
        proc = json_is_object(base) ? json_deep_copy(base) : json_object();
        json_decref(cfg);
        json_t *args = json_array();
        for (int i = optind; i < argc; i++)
            json_array_append_new(args, json_string(argv[i]));
        json_object_set_new(proc, "args", args);
        json_object_set_new(proc, "terminal", json_boolean(tty));
        json_object_del(proc, "consoleSize");
    }
    if (!json_is_object(proc)) {
        json_decref(proc);
        return cli_failf("exec: the process must be a JSON object");
    }
    for (size_t i = 0; i < n_env; i++)
        if (set_env(proc, envs[i]) < 0) {
            json_decref(proc);
            return cli_failf("exec: --env '%s' is not KEY=VALUE", envs[i]);
        }
    if (cwd)
        json_object_set_new(proc, "cwd", json_string(cwd));
    if (tty && process_file)
        json_object_set_new(proc, "terminal", json_true());
    if (nnp)
        json_object_set_new(proc, "noNewPrivileges", json_true());
    if (user || n_gid) {
        json_t *u = json_object_get(proc, "user");
        if (!json_is_object(u)) {
            u = json_object();
            json_object_set_new(proc, "user", u);
        }
        if (user) {
            char *end;
            unsigned long uid = strtoul(user, &end, 10), gid = 0;
            if (end == user || (*end && *end != ':') || (*end == ':' && (gid = strtoul(end + 1, &end, 10), *end))) {
                json_decref(proc);
                return cli_failf("exec: --user '%s' is not UID[:GID]", user);
            }
            json_object_set_new(u, "uid", json_integer((json_int_t) uid));
            json_object_set_new(u, "gid", json_integer((json_int_t) gid));
        }
        json_t *g = json_object_get(u, "additionalGids");
        if (n_gid && !json_is_array(g)) {
            g = json_array();
            json_object_set_new(u, "additionalGids", g);
        }
        for (size_t i = 0; i < n_gid; i++) {
            char *end;
            unsigned long v = strtoul(gids[i], &end, 10);
            if (*end || end == gids[i]) {
                json_decref(proc);
                return cli_failf("exec: --additional-gids '%s' is not a gid", gids[i]);
            }
            json_array_append_new(g, json_integer((json_int_t) v));
        }
    }
    for (size_t i = 0; i < n_cap; i++)
        add_cap(proc, caps[i]);
    o.process = proc;
    int status = 0;
    r = container_exec(&o, &status, &err);
    json_decref(proc);
    return r < 0 ? cli_fail(&err, r) : status;
}
