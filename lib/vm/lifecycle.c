#include "vm/lifecycle.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/json.h"
#include "image/defaults.h"
#include "image/image.h"
#include "net/attach.h"
#include "net/cidr.h"
#include "runtime/cgroup.h"
#include "sandbox/agent-proto.h"
#include "store/store.h"
#include "vm/agent-client.h"
#include "vm/backend.h"
#include "vm/template.h"
#include "vmm/boot/initramfs.h"
#include "vmm/disk/disk.h"

#define VM_CONFIG_SIZE (64 * 1024)
#define VM_MAX_CPUS 64
#define VM_MIN_MEMORY_MIB 64
#define VM_MAX_MEMORY_MIB (1024 * 1024)
#define VM_MIN_DISK (64ull << 20)

static int vm_files(const struct vm_record *rec, char **ret_dir, char **ret_run, struct berth_error *err)
{
    *ret_dir = vm_dir(rec->id);
    *ret_run = vm_run_dir(rec->id);
    if (!*ret_dir || !*ret_run)
        return berth_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

static int validate_resources(const struct vm_create_opts *o, struct berth_error *err)
{
    if (o->cpus > VM_MAX_CPUS)
        return berth_error_set(err, -EINVAL, "--cpus %u: must be between 1 and %d", o->cpus, VM_MAX_CPUS);
    if (o->memory_mib && (o->memory_mib < VM_MIN_MEMORY_MIB || o->memory_mib > VM_MAX_MEMORY_MIB))
        return berth_error_set(err, -EINVAL, "--memory %llu MiB: must be between %d MiB and %d MiB",
                               (unsigned long long) o->memory_mib, VM_MIN_MEMORY_MIB, VM_MAX_MEMORY_MIB);
    if (o->disk_size && o->disk_size < VM_MIN_DISK)
        return berth_error_set(err, -EINVAL, "--disk-size: at least 64 MiB");
    int sources = !!o->image + !!o->disk + !!o->template_name;
    if (sources != 1)
        return berth_error_set(err, -EINVAL, "a VM needs exactly one of --image, --disk or a template");
    return 0;
}

static void fill_record(const struct vm_create_opts *o, struct vm_record *rec)
{
    *rec = (struct vm_record){ 0 };
    snprintf(rec->name, sizeof(rec->name), "%s", o->name);
    snprintf(rec->backend, sizeof(rec->backend), "%s", o->backend ? o->backend : "auto");
    snprintf(rec->image, sizeof(rec->image), "%s", o->image ? o->image : "");
    snprintf(rec->template_name, sizeof(rec->template_name), "%s", o->template_name ? o->template_name : "");
    snprintf(rec->kernel_version, sizeof(rec->kernel_version), "%s", o->kernel_version ? o->kernel_version : "");
    if (o->hostname)
        snprintf(rec->hostname, sizeof(rec->hostname), "%s", o->hostname);
    rec->cpus = o->cpus ? o->cpus : 1;
    rec->memory_mib = o->memory_mib ? o->memory_mib : 256;
    rec->disk_size = o->disk_size ? o->disk_size : (1ull << 30);
    rec->args = o->args ? json_incref(o->args) : NULL;
    rec->cmdline_extra = o->cmdline_extra ? strdup(o->cmdline_extra) : NULL;
    rec->ports = o->ports && json_array_size(o->ports) ? json_incref(o->ports) : NULL;
    rec->balloon = o->balloon;
    vm_record_set_net_opts(o, rec);
}

/* The image's command when none was given: entrypoint + cmd; none at all means boot its init. */
static int image_args(struct image_store *is, const struct image *img, json_t **ret_args, json_t **ret_env,
                      struct berth_error *err)
{
    _cleanup_json_ json_t *cfg = NULL;
    int r = image_get_config(is, img, &cfg, err);
    if (r < 0)
        return r;
    struct image_defaults d = { 0 };
    r = image_defaults_from_config(cfg, &d, err);
    if (r < 0)
        return r;
    json_t *env = json_array();
    for (char **e = d.env; e && *e; e++)
        json_array_append_new(env, json_string(*e));
    *ret_env = env;
    if (d.entrypoint || d.cmd) {
        char **argv = NULL;
        struct berth_error ignored = { 0 };
        if (image_defaults_argv(&d, NULL, NULL, &argv, &ignored) == 0) {
            json_t *a = json_array();
            for (char **p = argv; *p; p++)
                json_array_append_new(a, json_string(*p));
            *ret_args = a;
            for (char **p = argv; *p; p++)
                free(*p);
            free(argv);
        }
    }
    image_defaults_clear(&d);
    return 0;
}

void vm_record_set_net_opts(const struct vm_create_opts *o, struct vm_record *rec)
{
    /* Recorded in canonical form (checked by vm_net_opts_check before). */
    uint32_t ip = 0;
    rec->ip[0] = 0;
    if (o->ip && cidr_parse_ip(o->ip, &ip, NULL) == 0)
        cidr_format_ip(ip, rec->ip);
    if (o->n_aliases) {
        rec->aliases = json_array();
        for (size_t i = 0; rec->aliases && i < o->n_aliases; i++)
            json_array_append_new(rec->aliases, json_string(o->aliases[i]));
    }
}

int vm_net_opts_check(const struct vm_create_opts *o, const char *network, struct berth_error *err)
{
    if (!o->ip && !o->n_aliases)
        return 0;
    const char *opt = o->ip ? "--ip" : "--network-alias";
    if (!*network)
        return berth_error_set(err, -EINVAL, "%s needs a network: add --network NET (a berth network, not none)", opt);
    return net_request_check_syntax(o->ip, o->aliases, o->n_aliases, NULL, err);
}

int vm_net_reserve(const struct vm_record *rec, struct berth_error *err)
{
    if (!rec->network[0])
        return 0;
    size_t n = json_array_size(rec->aliases);
    _cleanup_free_ const char **al = n ? calloc(n, sizeof(*al)) : NULL;
    if (n && !al)
        return berth_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        al[i] = json_string_value(json_array_get(rec->aliases, i)) ?: "";
    struct net_attach_opts ao = { .ip = rec->ip[0] ? rec->ip : NULL, .aliases = al, .n_aliases = n };
    return net_reserve(rec->network, rec->id, rec->name, "vm", &ao, err);
}

int vm_network_choose(const char *network, const json_t *ports, char ret[VM_NETWORK_MAX], struct berth_error *err)
{
    char name[NET_NAME_MAX];
    if (!network) {
        int r = network_default_name(name, err);
        if (r < 0)
            return r;
        /* A default of "host" is for containers: a VM has no way to share the host's stack. */
        network = strcmp(name, "host") ? name : "none";
    } else if (!strcmp(network, "host")) {
        return berth_error_set(err, -EINVAL, "--network host: a VM cannot use the host's network (use none or a "
                                             "berth network)");
    }
    if (!strcmp(network, "none"))
        network = "";
    if (json_array_size(ports) && !*network)
        return berth_error_set(err, -EINVAL, "-p needs a network: add --network berth (or another network)");
    snprintf(ret, VM_NETWORK_MAX, "%s", network);
    return 0;
}

int vm_create(struct store *s, const struct vm_create_opts *o, struct vm_record *ret, struct berth_error *err)
{
    int r = validate_resources(o, err);
    if (r < 0)
        return r;
    char network[VM_NETWORK_MAX];
    r = vm_network_choose(o->network, o->ports, network, err);
    if (r < 0)
        return r;
    r = vm_net_opts_check(o, network, err);
    if (r < 0)
        return r;
    struct vm_record rec;
    fill_record(o, &rec);
    snprintf(rec.network, sizeof(rec.network), "%s", network);

    _cleanup_free_ char *backing = NULL, *dir = NULL, *disk = NULL;
    const char *backing_format = "qcow2"; /* templates are qcow2 */
    struct image_store *is = NULL;
    struct image *img = NULL;
    if (o->image) {
        r = image_store_open(NULL, &is, err);
        if (r == 0)
            r = image_lookup(is, o->image, &img, err);
        if (r == 0 && !rec.args)
            r = image_args(is, img, &rec.args, &rec.env, err);
        if (r == 0)
            r = vm_image_template(is, img, rec.disk_size, &backing, err);
    } else if (o->template_name) {
        backing = vm_named_template_path(o->template_name);
        if (!backing)
            r = berth_error_set(err, -ENOMEM, "out of memory");
        else if (!fs_exists(backing))
            r = berth_error_set(err, -ENOENT, "no such VM template: %s", o->template_name);
    } else {
        /* The user's own base image: its format is probed once, here, and recorded in the
         * overlay's header; every later open uses the record, never a new probe. */
        backing = realpath(o->disk, NULL);
        if (!backing)
            r = berth_error_errno(err, -errno, "--disk %s", o->disk);
        else
            r = disk_probe(backing, &backing_format, err);
    }
    if (r == 0)
        r = vm_record_insert(s, &rec, err);
    if (r < 0)
        goto out;
    /* After the record, so that a create killed from here on leaves a VM whose rm releases the
     * address; before the disk, so that a taken address or alias fails the create at once. */
    r = vm_net_reserve(&rec, err);
    if (r < 0) {
        vm_record_delete(s, rec.id, NULL);
        goto out;
    }

    dir = vm_dir(rec.id);
    disk = dir ? fs_path_join(dir, "disk.qcow2") : NULL;
    if (!disk)
        r = berth_error_set(err, -ENOMEM, "out of memory");
    else if ((r = fs_mkdir_p(dir, 0700)) < 0)
        r = berth_error_errno(err, r, "%s", dir);
    else
        r = vm_overlay_create(backing, backing_format, disk, err);
    if (r == 0 && img) {
        char holder[80];
        snprintf(holder, sizeof(holder), "vm:%s", rec.id);
        r = image_store_hold(is, img->digest, holder, err);
    }
    if (r < 0) {
        /* Nothing half-made stays behind: the row and the directory go. */
        if (dir)
            fs_rm_rf(dir);
        net_unreserve(NULL, rec.id, NULL);
        vm_record_delete(s, rec.id, NULL);
        goto out;
    }
out:
    if (img)
        image_free(img);
    image_store_free(is);
    if (r < 0) {
        vm_record_clear(&rec);
        return r;
    }
    *ret = rec;
    return 0;
}

static bool monitor_alive(const struct vm_record *rec)
{
    if (rec->pid <= 0 || kill(rec->pid, 0) < 0)
        return false;
    /* The pid may have been reused: the monitor's command line names the VM's id. */
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) rec->pid);
    _cleanup_free_ char *cmd = NULL;
    size_t len = 0;
    if (fs_read_file(path, 1 << 20, &cmd, &len, NULL) < 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!cmd[i])
            cmd[i] = ' ';
    return strstr(cmd, rec->id) != NULL;
}

static int console_exit_status(const struct vm_record *rec)
{
    _cleanup_free_ char *dir = vm_dir(rec->id);
    _cleanup_free_ char *log = dir ? fs_path_join(dir, "console.log") : NULL;
    _cleanup_free_ char *text = NULL;
    if (!log || fs_read_file(log, 64u << 20, &text, NULL, NULL) < 0)
        return -1;
    int status = -1;
    /* The last run's status: the log is appended across boots. */
    for (char *p = text; (p = strstr(p, "berth-agent: exit status ")); p++)
        status = atoi(p + strlen("berth-agent: exit status "));
    return status;
}

static void release_runtime(struct vm_record *rec)
{
    if (rec->network[0])
        net_detach(rec->id, NULL);
    _cleanup_free_ char *run = vm_run_dir(rec->id);
    if (run) {
        _cleanup_free_ char *cg = fs_path_join(run, "cgroup.json");
        _cleanup_json_ json_t *state = NULL;
        struct cgroup_manager *m = NULL;
        if (cg && json_load_path(cg, 1 << 20, &state, NULL) == 0 && cgroup_manager_from_json(state, &m, NULL) == 0) {
            cgroup_destroy(m, NULL);
            cgroup_manager_free(m);
        }
        fs_rm_rf(run);
    }
}

int vm_refresh_state(struct store *s, struct vm_record *rec, struct berth_error *err)
{
    if (strcmp(rec->state, "running") != 0 || monitor_alive(rec))
        return 0;
    release_runtime(rec);
    snprintf(rec->state, sizeof(rec->state), "stopped");
    rec->pid = 0;
    rec->finished = time(NULL);
    rec->exit_status = console_exit_status(rec);
    int r = vm_record_update_runtime(s, rec, err);
    return r < 0 ? r : 1;
}

static int write_config_img(const struct vm_record *rec, const struct net_vm_attachment *net, const char *path,
                            struct berth_error *err)
{
    unsigned char seed[32];
    char seed_hex[65];
    if (getrandom(seed, sizeof(seed), 0) != (ssize_t) sizeof(seed))
        return berth_error_errno(err, -errno, "getrandom");
    for (size_t i = 0; i < sizeof(seed); i++)
        sprintf(seed_hex + 2 * i, "%02x", seed[i]);
    _cleanup_json_ json_t *cfg = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", rec->id, "name", rec->name,
                                           "hostname", rec->hostname, "machine_id", rec->machine_id,
                                           "random_seed", seed_hex);
    if (!cfg)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (rec->args)
        json_object_set(cfg, "args", rec->args);
    if (rec->env)
        json_object_set(cfg, "env", rec->env);
    if (net)
        json_object_set_new(cfg, "network",
                            json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}", "ip", net->net.ip, "prefix", (int) net->net.prefix_len,
                                      "gateway", net->net.gateway, "dns", net->net.dns, "search", net->net.search,
                                      "mac", net->net.mac));
    _cleanup_free_ char *text = json_dumps(cfg, JSON_COMPACT);
    if (!text)
        return berth_error_set(err, -ENOMEM, "out of memory");
    size_t len = strlen(text);
    if (len >= VM_CONFIG_SIZE)
        return berth_error_set(err, -E2BIG, "VM %s: its configuration (command, environment) exceeds %d bytes",
                               rec->name, VM_CONFIG_SIZE);
    _cleanup_free_ char *buf = calloc(1, VM_CONFIG_SIZE);
    if (!buf)
        return berth_error_set(err, -ENOMEM, "out of memory");
    memcpy(buf, text, len);
    return fs_write_atomic(path, buf, VM_CONFIG_SIZE, 0600, err);
}

/* Reserves the VM's vCPUs and memory on the host: the monitor runs in its own cgroup with a
 * memory limit (guest memory plus the monitor's overhead) and a CPU quota of cpus cores. */
static int vm_cgroup_enter(const struct vm_record *rec, const char *run, pid_t pid, struct berth_error *err)
{
    char path[128];
    snprintf(path, sizeof(path), "/berth-vm/%s", rec->id);
    struct cgroup_manager *m = NULL;
    int r = cgroup_manager_new(path, rec->id, false, NULL, &m, err);
    if (r < 0)
        return r;
    /* QEMU's TCG keeps a translation cache; 256 MiB covers it and either monitor's own needs. */
    uint64_t limit = (rec->memory_mib + 256) << 20;
    _cleanup_json_ json_t *res = json_pack("{s:{s:I}, s:{s:I, s:I}}", "memory", "limit", (json_int_t) limit, "cpu",
                                           "quota", (json_int_t) rec->cpus * 100000, "period", (json_int_t) 100000);
    r = cgroup_enter(m, pid, err);
    if (r == 0)
        r = cgroup_apply(m, res, err);
    _cleanup_json_ json_t *state = cgroup_manager_to_json(m);
    _cleanup_free_ char *cg = fs_path_join(run, "cgroup.json");
    if (state && cg)
        json_write_path(cg, state, NULL);
    cgroup_manager_free(m);
    return r;
}

int vm_start(struct store *s, struct vm_record *rec, char *ret_why, struct berth_error *err)
{
    int r = vm_refresh_state(s, rec, err);
    if (r < 0)
        return r;
    if (!strcmp(rec->state, "running"))
        return berth_error_set(err, -EBUSY, "VM %s is already running", rec->name);
    const struct vm_backend_ops *backend = NULL;
    char why[256];
    r = vm_backend_choose(rec->backend, &backend, why, sizeof(why), err);
    if (r < 0)
        return r;
    char agent[PATH_MAX];
    if (proc_find_sibling_binary("berth-agent", agent, sizeof(agent)) < 0)
        return berth_error_set(err, -ENOENT, "berth-agent not found beside berth (set BERTH_AGENT)");
    struct guest_kernel k = { 0 };
    r = guest_kernel_prepare(berth_root_dir(), rec->kernel_version[0] ? rec->kernel_version : NULL, agent, &k, err);
    if (r < 0)
        return r;
    /* For developers and tests: boot another image (e.g. a test guest) with the same devices. */
    const char *alt_kernel = getenv("BERTH_VM_KERNEL");
    if (alt_kernel && *alt_kernel) {
        free(k.kernel);
        k.kernel = strdup(alt_kernel);
        if (!k.kernel) {
            guest_kernel_clear(&k);
            return berth_error_set(err, -ENOMEM, "out of memory");
        }
    }
    _cleanup_free_ char *dir = NULL, *run = NULL;
    r = vm_files(rec, &dir, &run, err);
    _cleanup_free_ char *disk = fs_path_join(dir, "disk.qcow2");
    _cleanup_free_ char *config = fs_path_join(dir, "config.img");
    _cleanup_free_ char *console_log = fs_path_join(dir, "console.log");
    _cleanup_free_ char *console_sock = fs_path_join(run, "console");
    _cleanup_free_ char *agent_sock = fs_path_join(run, backend->agent_transport == VM_AGENT_VSOCK_UDS ? "vsock" : "agent");
    _cleanup_free_ char *control = fs_path_join(run, "control");
    _cleanup_free_ char *pid_file = fs_path_join(run, "monitor.pid");
    _cleanup_free_ char *cmdline = NULL;
    if (r == 0 && (!disk || !config || !console_log || !console_sock || !agent_sock || !control || !pid_file))
        r = berth_error_set(err, -ENOMEM, "out of memory");
    if (r == 0 && asprintf(&cmdline, "console=ttyS0 panic=-1 quiet berth.root=/dev/vda berth.config=/dev/vdb %s %s",
                           backend->cmdline_extra(), rec->cmdline_extra ? rec->cmdline_extra : "") < 0) {
        cmdline = NULL;
        r = berth_error_set(err, -ENOMEM, "out of memory");
    }
    if (r == 0 && (r = fs_mkdir_p(run, 0700)) < 0)
        r = berth_error_errno(err, r, "%s", run);
    struct net_vm_attachment net = { .tap_fd = -1 };
    bool attached = false;
    if (r == 0 && rec->network[0]) {
        size_t n_ports = json_array_size(rec->ports);
        _cleanup_free_ struct net_port *ports = n_ports ? calloc(n_ports, sizeof(*ports)) : NULL;
        if (n_ports && !ports)
            r = berth_error_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; r == 0 && i < n_ports; i++)
            r = net_port_parse(json_string_value(json_array_get(rec->ports, i)) ?: "", &ports[i], err);
        size_t n_aliases = json_array_size(rec->aliases);
        _cleanup_free_ const char **aliases = n_aliases ? calloc(n_aliases, sizeof(*aliases)) : NULL;
        if (n_aliases && !aliases)
            r = berth_error_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; r == 0 && i < n_aliases; i++)
            aliases[i] = json_string_value(json_array_get(rec->aliases, i)) ?: "";
        struct net_attach_opts nopts = { .mac = rec->mac, .ports = ports, .n_ports = n_ports,
                                         .ip = rec->ip[0] ? rec->ip : NULL, .aliases = aliases,
                                         .n_aliases = n_aliases };
        /* Held from create on; this makes sure for VMs created before names were held (the same
         * request again for the others), as a container's start does. */
        if (r == 0)
            r = vm_net_reserve(rec, err);
        if (r == 0)
            r = net_attach_vm(strcmp(rec->network, NET_DEFAULT_NETWORK) ? rec->network : NULL, rec->id, rec->name, &nopts,
                          0, &net, err);
        if (r == 0) {
            attached = true;
            /* The tap is persistent: the monitor opens it again by name. */
            close(net.tap_fd);
            net.tap_fd = -1;
        }
    }
    if (r == 0 && attached) {
        /* What inspect shows while the VM runs; removed with the run directory. */
        _cleanup_free_ char *np = fs_path_join(run, "network.json");
        _cleanup_json_ json_t *nj = json_pack("{s:s, s:s, s:s, s:s}", "network", net.net.network, "ip", net.net.ip,
                                              "mac", net.net.mac, "tap", net.net.host_ifname);
        if (np && nj)
            json_write_path(np, nj, NULL);
    }
    if (r == 0)
        r = write_config_img(rec, attached ? &net : NULL, config, err);
    pid_t pid = 0;
    if (r == 0) {
        struct vm_launch l = { .rec = rec, .kernel = k.kernel, .initramfs = k.initramfs, .cmdline = cmdline,
                               .disk = disk, .config_img = config, .console_log = console_log,
                               .console_sock = console_sock, .agent_sock = agent_sock, .control_sock = control,
                               .pid_file = pid_file, .run_dir = run,
                               .tap = attached ? net.net.host_ifname : NULL };
        r = backend->launch(&l, &pid, err);
    }
    guest_kernel_clear(&k);
    if (r == 0 && (r = vm_cgroup_enter(rec, run, pid, err)) < 0) {
        kill(pid, SIGKILL);
        berth_error_prefix(err, r, "VM %s: reserving its resources: ", rec->name);
    }
    if (r < 0) {
        release_runtime(rec);
        return r;
    }
    snprintf(rec->state, sizeof(rec->state), "running");
    rec->pid = pid;
    snprintf(rec->running_backend, sizeof(rec->running_backend), "%s", backend->name);
    if (backend == &vm_backend_qemu) {
        char kvm_why[256];
        snprintf(rec->running_backend, sizeof(rec->running_backend), "qemu (%s)",
                 vm_kvm_is_fast(kvm_why, sizeof(kvm_why)) ? "kvm" : "tcg");
    }
    rec->started = time(NULL);
    rec->finished = 0;
    rec->exit_status = -1;
    if (ret_why)
        snprintf(ret_why, 256, "%s: %.200s", rec->running_backend, why);
    return vm_record_update_runtime(s, rec, err);
}

static bool wait_gone(const struct vm_record *rec, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        if (!monitor_alive(rec))
            return true;
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return !monitor_alive(rec);
}

static const struct vm_backend_ops *running_backend(const struct vm_record *rec)
{
    return !strncmp(rec->running_backend, "qemu", 4) ? &vm_backend_qemu : &vm_backend_berth_vmm;
}

static char *agent_socket_path(const struct vm_record *rec)
{
    _cleanup_free_ char *run = vm_run_dir(rec->id);
    if (!run)
        return NULL;
    return fs_path_join(run, running_backend(rec)->agent_transport == VM_AGENT_VSOCK_UDS ? "vsock" : "agent");
}

int vm_stop(struct store *s, struct vm_record *rec, bool force, int timeout_s, struct berth_error *err)
{
    int r = vm_refresh_state(s, rec, err);
    if (r < 0)
        return r;
    if (strcmp(rec->state, "running") != 0)
        return berth_error_set(err, -EINVAL, "VM %s is not running", rec->name);
    if (!force) {
        _cleanup_free_ char *sock = agent_socket_path(rec);
        int chan = -1;
        struct berth_error ignored = { 0 };
        if (sock && vm_agent_connect(running_backend(rec)->agent_transport, sock, 2000, &chan, &ignored) == 0) {
            const char req[] = "{\"op\":\"poweroff\"}";
            agent_frame_write(chan, AGENT_REQUEST, req, sizeof(req) - 1);
            wait_gone(rec, timeout_s * 1000);
            close(chan);
        }
    }
    if (monitor_alive(rec)) {
        kill(rec->pid, SIGTERM);
        if (!wait_gone(rec, 3000))
            kill(rec->pid, SIGKILL);
        wait_gone(rec, 3000);
    }
    if (monitor_alive(rec))
        return berth_error_set(err, -EBUSY, "VM %s: its monitor (pid %d) does not exit", rec->name, (int) rec->pid);
    r = vm_refresh_state(s, rec, err);
    return r < 0 ? r : 0;
}

int vm_remove(struct store *s, struct vm_record *rec, bool force, struct berth_error *err)
{
    int r = vm_refresh_state(s, rec, err);
    if (r < 0)
        return r;
    if (!strcmp(rec->state, "running")) {
        if (!force)
            return berth_error_set(err, -EBUSY, "VM %s is running: stop it first or use --force", rec->name);
        r = vm_stop(s, rec, true, 0, err);
        if (r < 0)
            return r;
    }
    release_runtime(rec);
    _cleanup_free_ char *dir = vm_dir(rec->id);
    if (!dir)
        return berth_error_set(err, -ENOMEM, "out of memory");
    r = fs_rm_rf(dir);
    if (r < 0)
        return berth_error_errno(err, r, "removing %s", dir);
    if (rec->image[0]) {
        struct image_store *is = NULL;
        struct image *img = NULL;
        if (image_store_open(NULL, &is, NULL) == 0 && image_lookup(is, rec->image, &img, NULL) == 0) {
            char holder[80];
            snprintf(holder, sizeof(holder), "vm:%s", rec->id);
            image_store_release(is, img->digest, holder, NULL);
        }
        if (img)
            image_free(img);
        image_store_free(is);
    }
    /* Before the record: a removal killed in between leaves a record whose rm finishes the job. */
    r = net_unreserve(NULL, rec->id, err);
    if (r < 0)
        return r;
    return vm_record_delete(s, rec->id, err);
}

int vm_exec(struct vm_record *rec, json_t *request, int in_fd, int out_fd, int err_fd, int *ret_status,
            struct berth_error *err)
{
    if (strcmp(rec->state, "running") != 0)
        return berth_error_set(err, -EINVAL, "VM %s is not running", rec->name);
    _cleanup_free_ char *sock = agent_socket_path(rec);
    if (!sock)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_close_ int chan = -1;
    /* The guest may still be booting: the agent answers once the VM is up. */
    int r = vm_agent_connect(running_backend(rec)->agent_transport, sock, 60000, &chan, err);
    if (r < 0)
        return r;
    return vm_agent_exec(chan, request, in_fd, out_fd, err_fd, ret_status, err);
}
