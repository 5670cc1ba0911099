/* From an image's defaults and the user's options to a runtime-spec config.json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "containers/spec.h"
#include "runtime/security.h"
#include "containers/privileged.h"
#include "containers/seccomp-profile.h"
#include "image/defaults.h"
#include "oci/config.h"

/* Docker's default capability set: what images expect to have. */
static const char *const default_caps[] = { "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
                                            "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
                                            "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                                            "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE", NULL };

static char **strv_from_json(json_t *arr)
{
    char **v = NULL;
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) if (json_is_string(x)) strv_push(&v, json_string_value(x));
    return v;
}

static int cap_name(const char *in, char *out, size_t cap, struct berth_error *err)
{
    if (!strcasecmp(in, "ALL")) {
        snprintf(out, cap, "ALL");
        return 0;
    }
    const char *base = strncasecmp(in, "CAP_", 4) ? in : in + 4;
    if (!*base || strlen(base) > 40)
        return berth_error_set(err, -EINVAL, "unknown capability '%s'", in);
    snprintf(out, cap, "CAP_%s", base);
    for (char *p = out; *p; p++)
        *p = (char) (*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    return 0;
}

/* Whether berth itself may hand cap out: "all capabilities" (--privileged, --cap-add ALL) means
 * all that this host's bounding set holds (here, for one, no CAP_SYS_RESOURCE). */
static bool cap_available(const char *cap)
{
    int n = caps_from_name(cap);
    return n >= 0 && prctl(PR_CAPBSET_READ, (unsigned long) n, 0, 0, 0) == 1;
}

static int build_caps(json_t *spec, json_t **ret, struct berth_error *err)
{
    static const char *const all_caps[] = {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE", NULL };
    _cleanup_strv_ char **caps = NULL;
    bool privileged = json_is_true(json_object_get(spec, "privileged"));
    for (size_t i = 0; privileged ? all_caps[i] != NULL : default_caps[i] != NULL; i++)
        if (!privileged || cap_available(all_caps[i]))
            strv_push(&caps, privileged ? all_caps[i] : default_caps[i]);
    json_t *add = json_object_get(spec, "cap_add"), *drop = json_object_get(spec, "cap_drop");
    size_t i;
    json_t *x;
    json_array_foreach(add, i, x) {
        char name[64];
        int r = cap_name(json_string_value(x) ? json_string_value(x) : "", name, sizeof(name), err);
        if (r < 0)
            return berth_error_prefix(err, r, "--cap-add: ");
        if (!strcmp(name, "ALL")) {
            strv_free(caps);
            caps = NULL;
            for (size_t k = 0; all_caps[k]; k++)
                if (cap_available(all_caps[k]))
                    strv_push(&caps, all_caps[k]);
        } else if (strv_env_find(caps, name) < 0) {
            bool known = false;
            for (size_t k = 0; all_caps[k]; k++)
                known = known || !strcmp(all_caps[k], name);
            if (!known)
                return berth_error_set(err, -EINVAL, "--cap-add: unknown capability '%s'", json_string_value(x));
            bool have = false;
            for (char **c = caps; c && *c; c++)
                have = have || !strcmp(*c, name);
            if (!have)
                strv_push(&caps, name);
        }
    }
    json_array_foreach(drop, i, x) {
        char name[64];
        int r = cap_name(json_string_value(x) ? json_string_value(x) : "", name, sizeof(name), err);
        if (r < 0)
            return berth_error_prefix(err, r, "--cap-drop: ");
        _cleanup_strv_ char **kept = NULL;
        for (char **c = caps; c && *c; c++)
            if (strcmp(name, "ALL") && strcmp(*c, name))
                strv_push(&kept, *c);
        strv_free(caps);
        caps = TAKE_PTR(kept);
    }
    json_t *list = json_array();
    for (char **c = caps; c && *c; c++)
        json_array_append_new(list, json_string(*c));
    *ret = json_pack("{s:O, s:O, s:O}", "bounding", list, "effective", list, "permitted", list);
    json_decref(list);
    return 0;
}

static int add_volumes(json_t *spec, json_t *mounts, struct berth_error *err)
{
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(spec, "volumes"), i, x) {
        const char *v = json_string_value(x);
        _cleanup_free_ char *copy = strdup(v ? v : "");
        char *host = copy, *ctr = copy ? strchr(copy, ':') : NULL;
        if (!ctr)
            return berth_error_set(err, -EINVAL, "-v '%s': expected HOST:CONTAINER[:ro]", v ? v : "");
        *ctr++ = '\0';
        char *mode = strchr(ctr, ':');
        if (mode)
            *mode++ = '\0';
        if (host[0] != '/' || ctr[0] != '/')
            return berth_error_set(err, -EINVAL, "-v '%s': both paths must be absolute", v);
        if (mode && strcmp(mode, "ro") && strcmp(mode, "rw"))
            return berth_error_set(err, -EINVAL, "-v '%s': unknown mode '%s' (expected ro or rw)", v, mode);
        struct stat st;
        if (stat(host, &st) < 0)
            return berth_error_errno(err, -errno, "-v '%s': host path %s", v, host);
        json_t *opts = json_pack("[s, s]", "rbind", "rprivate");
        if (mode && !strcmp(mode, "ro"))
            json_array_append_new(opts, json_string("ro"));
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:o}", "destination", ctr, "type", "bind", "source",
                                                host, "options", opts));
    }
    json_array_foreach(json_object_get(spec, "tmpfs"), i, x) {
        const char *p = json_string_value(x);
        if (!p || p[0] != '/')
            return berth_error_set(err, -EINVAL, "--tmpfs '%s': expected an absolute path", p ? p : "");
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:[s, s, s]}", "destination", p, "type", "tmpfs",
                                                "source", "tmpfs", "options", "nosuid", "nodev", "mode=1777"));
    }
    return 0;
}

int ctr_build_config(json_t *spec, json_t *image_config, const char *id, json_t **ret, struct berth_error *err)
{
    struct image_defaults d = { 0 };
    int r = image_defaults_from_config(image_config, &d, err);
    if (r < 0)
        return r;
    _cleanup_strv_ char **cmd = NULL, **entry = NULL, **argv = NULL;
    json_t *jcmd = json_object_get(spec, "cmd"), *jentry = json_object_get(spec, "entrypoint");
    if (json_array_size(jcmd))
        cmd = strv_from_json(jcmd);
    if (json_is_array(jentry)) {
        entry = strv_from_json(jentry);
        if (!entry) {
            /* An empty override clears the image's entrypoint. */
            strv_push(&entry, "");
            free(entry[0]);
            entry[0] = NULL;
        }
    }
    r = image_defaults_argv(&d, entry, cmd, &argv, err);
    if (r < 0) {
        image_defaults_clear(&d);
        return berth_error_prefix(err, r, "no command: the image has none and none was given: ");
    }
    json_t *cfg = oci_config_default(false, 0, 0);
    json_t *process = json_object_get(cfg, "process");
    bool tty = json_is_true(json_object_get(spec, "tty"));
    json_object_set_new(process, "terminal", json_boolean(tty));
    json_t *args = json_array();
    for (char **a = argv; *a; a++)
        json_array_append_new(args, json_string(*a));
    json_object_set_new(process, "args", args);
    _cleanup_strv_ char **env = NULL;
    for (char **e = d.env; e && *e; e++)
        strv_push(&env, *e);
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(spec, "env"), i, x) {
        const char *kv = json_string_value(x);
        const char *eq = kv ? strchr(kv, '=') : NULL;
        if (!eq)
            continue;
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int) (eq - kv), kv);
        long at = strv_env_find(env, key);
        if (at >= 0) {
            free(env[at]);
            env[at] = strdup(kv);
        } else {
            strv_push(&env, kv);
        }
    }
    if (tty && strv_env_find(env, "TERM") < 0)
        strv_push(&env, "TERM=xterm"); /* as Docker and Podman do for -t */
    if (strv_env_find(env, "HOSTNAME") < 0) {
        char h[80];
        snprintf(h, sizeof(h), "HOSTNAME=%.12s", id);
        strv_push(&env, h);
    }
    json_t *jenv = json_array();
    for (char **e = env; e && *e; e++)
        json_array_append_new(jenv, json_string(*e));
    json_object_set_new(process, "env", jenv);
    const char *workdir = json_string_value(json_object_get(spec, "workdir"));
    json_object_set_new(process, "cwd", json_string(workdir ? workdir : d.working_dir));
    json_t *caps = NULL;
    r = build_caps(spec, &caps, err);
    if (r == 0)
        json_object_set_new(process, "capabilities", caps);
    json_t *seccomp = NULL;
    if (r == 0 && (r = ctr_seccomp_config(spec, json_object_get(caps, "bounding"), &seccomp, err)) == 0 && seccomp)
        json_object_set_new(json_object_get(cfg, "linux"), "seccomp", seccomp);
    /* After the seccomp choice: --privileged drops the default filter, but a profile given
     * explicitly with --security-opt still applies (as in Docker). */
    if (r == 0 && json_is_true(json_object_get(spec, "privileged"))) {
        json_t *explicit_seccomp = json_object_get(json_object_get(cfg, "linux"), "seccomp");
        if (explicit_seccomp)
            json_incref(explicit_seccomp);
        r = ctr_apply_privileged(cfg, err);
        if (explicit_seccomp && json_object_get(spec, "seccomp") && json_is_object(json_object_get(spec, "seccomp")))
            json_object_set(json_object_get(cfg, "linux"), "seccomp", explicit_seccomp);
        json_decref(explicit_seccomp);
    }
    const char *hostname = json_string_value(json_object_get(spec, "hostname"));
    char short_id[13];
    snprintf(short_id, sizeof(short_id), "%.12s", id);
    json_object_set_new(cfg, "hostname", json_string(hostname ? hostname : short_id));
    json_object_set_new(json_object_get(cfg, "root"), "readonly", json_boolean(json_is_true(json_object_get(spec, "read_only"))));
    if (r == 0)
        r = add_volumes(spec, json_object_get(cfg, "mounts"), err);

    json_t *lnx = json_object_get(cfg, "linux");
    char cgpath[96];
    snprintf(cgpath, sizeof(cgpath), "/berth/%s", id);
    json_object_set_new(lnx, "cgroupsPath", json_string(cgpath));
    json_t *res = json_object_get(lnx, "resources");
    json_int_t memory = json_integer_value(json_object_get(spec, "memory"));
    if (memory > 0)
        json_object_set_new(res, "memory", json_pack("{s:I}", "limit", memory));
    double cpus = json_number_value(json_object_get(spec, "cpus"));
    if (cpus > 0)
        json_object_set_new(res, "cpu", json_pack("{s:I, s:I}", "quota", (json_int_t) (cpus * 100000), "period",
                                                  (json_int_t) 100000));
    json_int_t pids = json_integer_value(json_object_get(spec, "pids_limit"));
    if (pids > 0)
        json_object_set_new(res, "pids", json_pack("{s:I}", "limit", pids));
    const char *network = json_string_value(json_object_get(spec, "network"));
    if (network && !strcmp(network, "host")) {
        json_t *ns = json_object_get(lnx, "namespaces");
        for (size_t k = 0; k < json_array_size(ns); k++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(ns, k), "type")) ?: "", "network")) {
                json_array_remove(ns, k);
                break;
            }
    }
    image_defaults_clear(&d);
    if (r < 0) {
        json_decref(cfg);
        return r;
    }
    *ret = cfg;
    return 0;
}
