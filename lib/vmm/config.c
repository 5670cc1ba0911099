#include "vmm/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"

void vmm_config_init(struct vmm_config *c)
{
    memset(c, 0, sizeof(*c));
    c->cpus = 1;
    c->memory_mib = 128;
    c->console = VMM_CONSOLE_STDIO;
}

void vmm_config_clear(struct vmm_config *c)
{
    free(c->kernel);
    free(c->initrd);
    free(c->cmdline);
    for (unsigned i = 0; i < c->n_disks; i++)
        free(c->disks[i].path);
    for (unsigned i = 0; i < c->n_nets; i++)
        free(c->nets[i]);
    free(c->vsock_socket);
    free(c->console_path);
    free(c->console_log);
    vmm_config_init(c);
}

static int set_str(char **dst, const char *v)
{
    char *s = strdup(v);
    if (!s)
        return -ENOMEM;
    free(*dst);
    *dst = s;
    return 0;
}

int vmm_parse_uint(const char *s, uint64_t min, uint64_t max, const char *what, uint64_t *ret, struct berth_error *err)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return berth_error_set(err, -EINVAL, "%s: '%s' is not a number", what, s ? s : "");
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return berth_error_set(err, -EINVAL, "%s: '%s' is not a number", what, s);
    if (v < min || v > max)
        return berth_error_set(err, -ERANGE, "%s: %llu is out of range (%llu-%llu)", what, v, (unsigned long long) min,
                               (unsigned long long) max);
    *ret = v;
    return 0;
}

/* The formats berth-vmm opens; NULL when name is not one of them. */
static const char *disk_format_name(const char *name)
{
    static const char *const formats[] = { "raw", "qcow2" };
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (!strcmp(name, formats[i]))
            return formats[i];
    return NULL;
}

static int add_disk(struct vmm_config *c, const char *path, bool ro, const char *format, const char *what,
                    struct berth_error *err)
{
    if (c->n_disks >= VMM_MAX_DISKS)
        return berth_error_set(err, -E2BIG, "--disk: at most %d disks", VMM_MAX_DISKS);
    if (!*path)
        return berth_error_set(err, -EINVAL, "%s: empty path", what);
    const char *fmt = NULL;
    if (format && !(fmt = disk_format_name(format)))
        return berth_error_set(err, -EINVAL, "%s %s: unknown format '%s' (raw or qcow2)", what, path, format);
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    c->disks[c->n_disks] = (struct vmm_disk_config){ .path = copy, .read_only = ro, .format = fmt };
    c->n_disks++;
    return 0;
}

int vmm_config_add_disk(struct vmm_config *c, const char *spec, struct berth_error *err)
{
    _cleanup_free_ char *path = strdup(spec);
    if (!path)
        return -ENOMEM;
    bool ro = false;
    const char *format = NULL;
    char *opts = strchr(path, ',');
    if (opts) {
        *opts++ = '\0';
        for (char *save = NULL, *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
            if (!strcmp(o, "ro") || !strcmp(o, "rw"))
                ro = !strcmp(o, "ro");
            else if (!strncmp(o, "format=", 7))
                format = o + 7;
            else
                return berth_error_set(err, -EINVAL, "--disk %s: unknown option '%s' (expected ro, rw or format=raw|qcow2)",
                                       spec, o);
        }
    }
    return add_disk(c, path, ro, format, "--disk", err);
}

int vmm_config_add_net(struct vmm_config *c, const char *tap, struct berth_error *err)
{
    if (c->n_nets >= VMM_MAX_NETS)
        return berth_error_set(err, -E2BIG, "--net: at most %d interfaces", VMM_MAX_NETS);
    if (!*tap || strlen(tap) >= 16)
        return berth_error_set(err, -EINVAL, "--net '%s': not a valid tap interface name", tap);
    c->nets[c->n_nets] = strdup(tap);
    if (!c->nets[c->n_nets])
        return -ENOMEM;
    c->n_nets++;
    return 0;
}

int vmm_config_set_vsock(struct vmm_config *c, const char *spec, struct berth_error *err)
{
    const char *colon = strchr(spec, ':');
    if (!colon || !colon[1])
        return berth_error_set(err, -EINVAL, "--vsock '%s': expected CID:SOCKET", spec);
    char cid[16];
    size_t n = (size_t) (colon - spec);
    if (n == 0 || n >= sizeof(cid))
        return berth_error_set(err, -EINVAL, "--vsock '%s': expected CID:SOCKET", spec);
    memcpy(cid, spec, n);
    cid[n] = '\0';
    uint64_t v;
    int r = vmm_parse_uint(cid, 3, UINT32_MAX - 1, "--vsock CID", &v, err);
    if (r < 0)
        return r;
    c->vsock_cid = (uint32_t) v;
    return set_str(&c->vsock_socket, colon + 1);
}

int vmm_config_set_console(struct vmm_config *c, const char *spec, struct berth_error *err)
{
    if (!*spec)
        return berth_error_set(err, -EINVAL, "--console: empty value");
    free(c->console_path);
    c->console_path = NULL;
    if (!strcmp(spec, "stdio")) {
        c->console = VMM_CONSOLE_STDIO;
        return 0;
    }
    if (!strcmp(spec, "none")) {
        c->console = VMM_CONSOLE_NONE;
        return 0;
    }
    if (!strncmp(spec, "socket:", 7)) {
        if (!spec[7])
            return berth_error_set(err, -EINVAL, "--console socket: needs a path");
        c->console = VMM_CONSOLE_SOCKET;
        return set_str(&c->console_path, spec + 7);
    }
    c->console = VMM_CONSOLE_FILE;
    return set_str(&c->console_path, spec);
}

static const char *const config_keys[] = { "kernel", "initrd", "cmdline", "cpus", "memory_mib", "disks",
                                            "nets",   "vsock",  "console", "console_log", "balloon", NULL };

int vmm_config_from_json(json_t *obj, const char *what, struct vmm_config *c, struct berth_error *err)
{
    if (!json_is_object(obj))
        return berth_error_set(err, -EINVAL, "%s: must be a JSON object", what);
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        bool known = false;
        for (const char *const *k = config_keys; *k; k++)
            known |= !strcmp(*k, key);
        if (!known)
            return berth_error_set(err, -EINVAL, "%s: unknown key '%s'", what, key);
    }
    const char *s = NULL;
    int r;
    if ((r = json_opt_string(obj, "kernel", what, &s, err)) < 0)
        return r;
    if (s && (r = set_str(&c->kernel, s)) < 0)
        return r;
    s = NULL;
    if ((r = json_opt_string(obj, "initrd", what, &s, err)) < 0)
        return r;
    if (s && (r = set_str(&c->initrd, s)) < 0)
        return r;
    s = NULL;
    if ((r = json_opt_string(obj, "cmdline", what, &s, err)) < 0)
        return r;
    if (s && (r = set_str(&c->cmdline, s)) < 0)
        return r;
    uint64_t u = c->cpus;
    if ((r = json_opt_uint64(obj, "cpus", what, &u, err)) < 0)
        return r;
    if (u == 0 || u > VMM_MAX_CPUS)
        return berth_error_set(err, -ERANGE, "%s: cpus: %llu is out of range (1-%d)", what, (unsigned long long) u,
                               VMM_MAX_CPUS);
    c->cpus = (unsigned) u;
    if ((r = json_opt_uint64(obj, "memory_mib", what, &c->memory_mib, err)) < 0)
        return r;
    json_t *arr = NULL;
    if ((r = json_opt_array(obj, "disks", what, &arr, err)) < 0)
        return r;
    size_t i;
    json_array_foreach(arr, i, val)
    {
        const char *path = NULL, *format = NULL;
        bool ro = false;
        if (!json_is_object(val) || json_opt_string(val, "path", what, &path, err) < 0 || !path ||
            json_opt_bool(val, "read_only", what, &ro, err) < 0 || json_opt_string(val, "format", what, &format, err) < 0)
            return berth_error_set(err, -EINVAL,
                                   "%s: disks[%zu]: needs {\"path\": string, \"read_only\": bool, \"format\": \"raw\"|\"qcow2\"}",
                                   what, i);
        if ((r = add_disk(c, path, ro, format, "disks", err)) < 0)
            return r;
    }
    arr = NULL;
    if ((r = json_opt_array(obj, "nets", what, &arr, err)) < 0)
        return r;
    json_array_foreach(arr, i, val)
    {
        if (!json_is_string(val))
            return berth_error_set(err, -EINVAL, "%s: nets[%zu]: must be a tap name", what, i);
        if ((r = vmm_config_add_net(c, json_string_value(val), err)) < 0)
            return r;
    }
    json_t *vs = NULL;
    if ((r = json_opt_object(obj, "vsock", what, &vs, err)) < 0)
        return r;
    if (vs) {
        uint64_t cid = 0;
        const char *sock = NULL;
        if (json_opt_uint64(vs, "cid", what, &cid, err) < 0 || json_opt_string(vs, "socket", what, &sock, err) < 0 ||
            !sock || cid < 3 || cid >= UINT32_MAX)
            return berth_error_set(err, -EINVAL, "%s: vsock: needs {\"cid\": 3.., \"socket\": path}", what);
        c->vsock_cid = (uint32_t) cid;
        if ((r = set_str(&c->vsock_socket, sock)) < 0)
            return r;
    }
    s = NULL;
    if ((r = json_opt_string(obj, "console", what, &s, err)) < 0)
        return r;
    if (s && (r = vmm_config_set_console(c, s, err)) < 0)
        return r;
    s = NULL;
    if ((r = json_opt_string(obj, "console_log", what, &s, err)) < 0)
        return r;
    if (s && (r = set_str(&c->console_log, s)) < 0)
        return r;
    if ((r = json_opt_bool(obj, "balloon", what, &c->balloon, err)) < 0)
        return r;
    return 0;
}

json_t *vmm_config_to_json(const struct vmm_config *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (c->kernel)
        json_object_set_new(o, "kernel", json_string(c->kernel));
    if (c->initrd)
        json_object_set_new(o, "initrd", json_string(c->initrd));
    if (c->cmdline)
        json_object_set_new(o, "cmdline", json_string(c->cmdline));
    json_object_set_new(o, "cpus", json_integer(c->cpus));
    json_object_set_new(o, "memory_mib", json_integer((json_int_t) c->memory_mib));
    json_t *disks = json_array();
    for (unsigned i = 0; i < c->n_disks; i++) {
        json_t *d = json_pack("{s:s,s:b}", "path", c->disks[i].path, "read_only", c->disks[i].read_only);
        if (d && c->disks[i].format)
            json_object_set_new(d, "format", json_string(c->disks[i].format));
        json_array_append_new(disks, d);
    }
    json_object_set_new(o, "disks", disks);
    json_t *nets = json_array();
    for (unsigned i = 0; i < c->n_nets; i++)
        json_array_append_new(nets, json_string(c->nets[i]));
    json_object_set_new(o, "nets", nets);
    if (c->vsock_cid)
        json_object_set_new(o, "vsock", json_pack("{s:I,s:s}", "cid", (json_int_t) c->vsock_cid, "socket",
                                                  c->vsock_socket));
    if (c->balloon)
        json_object_set_new(o, "balloon", json_true());
    return o;
}

int vmm_config_validate(const struct vmm_config *c, struct berth_error *err)
{
    if (!c->kernel)
        return berth_error_set(err, -EINVAL, "no kernel given (--kernel FILE)");
    if (c->cpus == 0 || c->cpus > VMM_MAX_CPUS)
        return berth_error_set(err, -ERANGE, "cpus: %u is out of range (1-%d)", c->cpus, VMM_MAX_CPUS);
    if (c->memory_mib < VMM_MIN_MEMORY_MIB || c->memory_mib > VMM_MAX_MEMORY_MIB)
        return berth_error_set(err, -ERANGE, "memory: %llu MiB is out of range (%d-%llu MiB)",
                               (unsigned long long) c->memory_mib, VMM_MIN_MEMORY_MIB, VMM_MAX_MEMORY_MIB);
    struct stat st;
    if (stat(c->kernel, &st) < 0)
        return berth_error_errno(err, -errno, "kernel %s", c->kernel);
    if (!S_ISREG(st.st_mode))
        return berth_error_set(err, -EINVAL, "kernel %s: not a regular file", c->kernel);
    if (access(c->kernel, R_OK) < 0)
        return berth_error_errno(err, -errno, "kernel %s", c->kernel);
    if (c->initrd) {
        if (stat(c->initrd, &st) < 0)
            return berth_error_errno(err, -errno, "initrd %s", c->initrd);
        if (!S_ISREG(st.st_mode))
            return berth_error_set(err, -EINVAL, "initrd %s: not a regular file", c->initrd);
        if ((uint64_t) st.st_size >= (c->memory_mib << 20))
            return berth_error_set(err, -E2BIG, "initrd %s: %llu MiB does not fit in %llu MiB of memory", c->initrd,
                                   (unsigned long long) (st.st_size >> 20), (unsigned long long) c->memory_mib);
    }
    for (unsigned i = 0; i < c->n_disks; i++) {
        const struct vmm_disk_config *d = &c->disks[i];
        if (stat(d->path, &st) < 0)
            return berth_error_errno(err, -errno, "disk %s", d->path);
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
            return berth_error_set(err, -EINVAL, "disk %s: not a regular file or block device", d->path);
        /* Root passes access(W_OK) on a 0444 file: look at the mode bits too. */
        if (!d->read_only && !(st.st_mode & 0222))
            return berth_error_set(err, -EROFS, "disk %s: the file is read-only (attach it with ,ro)", d->path);
        if (access(d->path, d->read_only ? R_OK : R_OK | W_OK) < 0)
            return berth_error_errno(err, -errno, "disk %s%s", d->path,
                                     d->read_only ? "" : " (attach it with ,ro for read-only use)");
    }
    return 0;
}
