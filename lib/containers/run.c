#include "containers/run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/json.h"
#include "base/strv.h"
#include "containers/attach.h"
#include "containers/connect.h"
#include "containers/monitor.h"
#include "containers/spec.h"
#include "image/image.h"
#include "image/mount.h"
#include "net/attach.h"
#include "net/netlink.h"
#include "runtime/container.h"
#include "store/store.h"

char *ctr_path(const struct ctr_record *rec, const char *file)
{
    _cleanup_free_ char *dir = ctr_dir(rec->id);
    return dir ? fs_path_join(dir, file) : NULL;
}

/* No --network: the configured default (berth.conf), recorded in the spec so that a later start
 * or restart joins the same network even if berth.conf changes meanwhile (as Docker's "bridge"). */
static int spec_default_network(json_t *spec, struct berth_error *err)
{
    if (json_object_get(spec, "network") || json_object_get(spec, "networks"))
        return 0;
    char name[NET_NAME_MAX];
    int r = network_default_name(name, err);
    if (r < 0)
        return r;
    if (json_object_set_new(spec, "network", json_string(name)) < 0 ||
        json_object_set_new(spec, "networks", json_pack("[s]", name)) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

int ctr_create(struct store *s, const char *name, json_t *spec, const char *restart, bool auto_remove,
               struct ctr_record *ret, struct berth_error *err)
{
    const char *image_ref = json_string_value(json_object_get(spec, "image"));
    if (!image_ref)
        return berth_error_set(err, -EINVAL, "an image is needed");
    int r = spec_default_network(spec, err);
    if (r < 0)
        return r;
    if (restart && strcmp(restart, "no") && strcmp(restart, "on-failure") && strcmp(restart, "always"))
        return berth_error_set(err, -EINVAL, "--restart '%s': expected no, on-failure or always", restart);
    if (auto_remove && restart && strcmp(restart, "no"))
        return berth_error_set(err, -EINVAL, "--rm and --restart %s cannot be combined", restart);
    struct image_store *is = NULL;
    struct image *img = NULL;
    _cleanup_json_ json_t *image_config = NULL, *config = NULL;
    struct ctr_record rec = { 0 };
    _cleanup_free_ char *dir = NULL;
    r = image_store_open(NULL, &is, err);
    if (r == 0)
        r = image_lookup(is, image_ref, &img, err);
    if (r == 0)
        r = image_get_config(is, img, &image_config, err);
    if (r < 0)
        goto out;
    snprintf(rec.name, sizeof(rec.name), "%s", name ? name : "");
    if (name && !ctr_name_is_valid(name)) {
        /* The whole rule, as berth vm create says it: a 64-character name is refused for its length. */
        r = berth_error_set(err, -EINVAL,
                            "invalid container name '%s': use letters, digits, '_', '.', '-' (at most %d, "
                            "starting with a letter or digit)", name, CTR_NAME_MAX);
        goto out;
    }
    snprintf(rec.image, sizeof(rec.image), "%s", image_ref);
    snprintf(rec.image_digest, sizeof(rec.image_digest), "%s", img->digest);
    snprintf(rec.restart, sizeof(rec.restart), "%s", restart ? restart : "no");
    rec.auto_remove = auto_remove;
    rec.exit_code = -1;
    /* The image's User applies unless --user overrides it: recorded in the spec so that start
     * resolves it against the rootfs like --user. */
    const char *image_user =
        json_string_value(json_object_get(json_object_get(image_config, "config"), "User"));
    if (!json_object_get(spec, "user") && image_user && *image_user) {
        rec.spec = json_deep_copy(spec);
        if (rec.spec)
            json_object_set_new(rec.spec, "user", json_string(image_user));
    } else {
        rec.spec = json_incref(spec);
    }
    if (!rec.spec) {
        r = berth_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    snprintf(rec.state, sizeof(rec.state), "created");
    /* The id is needed by the config (hostname, cgroup): draw it by inserting first. */
    r = ctr_record_insert(s, &rec, err);
    if (r < 0)
        goto out;
    /* After the record, so that a create killed from here on leaves a container whose rm
     * releases the address; before anything else, so that a taken one fails the create. */
    r = ctr_network_reserve(&rec, err);
    if (r == 0)
        r = ctr_build_config(spec, image_config, rec.id, &config, err);
    dir = ctr_dir(rec.id);
    if (r == 0 && !dir)
        r = berth_error_set(err, -ENOMEM, "out of memory");
    static const char *const subdirs[] = { "rootfs", "upper", "work", NULL };
    for (size_t i = 0; r == 0 && subdirs[i]; i++) {
        _cleanup_free_ char *p = fs_path_join(dir, subdirs[i]);
        if (!p || (r = fs_mkdir_p(p, 0755)) < 0)
            r = berth_error_errno(err, r ? r : -ENOMEM, "%s", dir);
    }
    if (r == 0) {
        _cleanup_free_ char *cfg_path = fs_path_join(dir, "config.json");
        r = cfg_path ? json_write_path(cfg_path, config, err) : -ENOMEM;
    }
    if (r == 0) {
        char holder[80];
        snprintf(holder, sizeof(holder), "container:%s", rec.id);
        r = image_store_hold(is, img->digest, holder, err);
    }
    if (r < 0) {
        if (dir)
            fs_rm_rf(dir);
        net_unreserve(NULL, rec.id, NULL);
        ctr_record_delete(s, rec.id, NULL);
    }
out:
    if (img)
        image_free(img);
    image_store_free(is);
    if (r < 0) {
        ctr_record_clear(&rec);
        return r;
    }
    *ret = rec;
    return 0;
}

/* "name", "uid", "uid:gid" or "name:group" against the container's /etc/passwd and /etc/group. */
static int lookup_id(int rootfd, const char *file, const char *name, unsigned *ret)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(name, &end, 10);
    if (*name && !*end) {
        /* An id the kernel can hold (uid_t; (uid_t) -1 means "no change"), not one cut to 32 bits. */
        if (errno || name[0] == '-' || v >= 0xffffffffUL)
            return -ERANGE;
        *ret = (unsigned) v;
        return 0;
    }
    int fd = fs_open_in_root(rootfd, file, O_RDONLY, 0, 0);
    if (fd < 0)
        return -ENOENT;
    _cleanup_fclose_ FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return -errno;
    }
    char line[1024];
    size_t n = strlen(name);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, name, n) || line[n] != ':')
            continue;
        char *p = strchr(line + n + 1, ':');
        if (!p)
            break;
        *ret = (unsigned) strtoul(p + 1, NULL, 10);
        return 0;
    }
    return -ENOENT;
}

int ctr_resolve_user(const char *rootfs, const char *user, json_t *process, struct berth_error *err)
{
    if (!user || !*user)
        return 0;
    _cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return berth_error_errno(err, -errno, "%s", rootfs);
    _cleanup_free_ char *u = strdup(user);
    if (!u)
        return -ENOMEM;
    char *g = strchr(u, ':');
    if (g)
        *g++ = '\0';
    unsigned uid = 0, gid = 0;
    int r = lookup_id(rootfd, "/etc/passwd", u, &uid);
    if (r == -ERANGE)
        return berth_error_set(err, -EINVAL, "--user %s: uid '%s' is out of range (0 to 4294967294)", user, u);
    if (r < 0)
        return berth_error_set(err, -EINVAL, "--user %s: no user '%s' in the container's /etc/passwd", user, u);
    r = g ? lookup_id(rootfd, "/etc/group", g, &gid) : 0;
    if (r == -ERANGE)
        return berth_error_set(err, -EINVAL, "--user %s: gid '%s' is out of range (0 to 4294967294)", user, g);
    if (r < 0)
        return berth_error_set(err, -EINVAL, "--user %s: no group '%s' in the container's /etc/group", user, g);
    if (!g) {
        /* The user's primary group, from the fourth field of its passwd line. */
        int fd = fs_open_in_root(rootfd, "/etc/passwd", O_RDONLY, 0, 0);
        _cleanup_fclose_ FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
        char line[1024];
        while (f && fgets(line, sizeof(line), f)) {
            char *fields[4] = { line };
            int k = 1;
            for (char *p = line; *p && k < 4; p++)
                if (*p == ':') {
                    *p = '\0';
                    fields[k++] = p + 1;
                }
            if (k == 4 && strtoul(fields[2], NULL, 10) == uid) {
                gid = (unsigned) strtoul(fields[3], NULL, 10);
                break;
            }
        }
    }
    json_object_set_new(process, "user", json_pack("{s:I, s:I}", "uid", (json_int_t) uid, "gid", (json_int_t) gid));
    return 0;
}

static int mount_rootfs(const struct ctr_record *rec, const char *dir, struct berth_error *err)
{
    _cleanup_free_ char *rootfs = fs_path_join(dir, "rootfs");
    _cleanup_free_ char *upper = fs_path_join(dir, "upper");
    _cleanup_free_ char *work = fs_path_join(dir, "work");
    if (!rootfs || !upper || !work)
        return berth_error_set(err, -ENOMEM, "out of memory");
    struct image_store *is = NULL;
    struct image *img = NULL;
    int r = image_store_open(NULL, &is, err);
    if (r == 0)
        r = image_lookup(is, rec->image_digest, &img, err);
    if (r == 0) {
        umount2(rootfs, MNT_DETACH);
        r = image_mount_rootfs(is, img, upper, work, rootfs, err);
    }
    if (img)
        image_free(img);
    image_store_free(is);
    return r;
}

/* "none" is loopback only: a fresh network namespace has lo down, so 127.0.0.1 would be
 * unreachable for servers and clients inside the container. */
static int ctr_loopback_up(pid_t init, struct berth_error *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) init);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return berth_error_errno(err, -errno, "%s", path);
    struct nl *nl = NULL;
    int r = nl_open_in_netns(fd, &nl, err);
    if (r < 0)
        return r;
    r = nl_link_set(nl, "lo", NULL, true, err);
    nl_close(nl);
    return r;
}

/* Puts the container on its networks (--network NAME, with -p ports) between create and start,
 * while its network namespace exists and its process has not run yet; writes /etc/hosts and
 * /etc/resolv.conf into its rootfs. "none" and "host" need nothing. */
static int ctr_network_attach(const struct ctr_record *rec, pid_t init, const char *rootfs, struct berth_error *err)
{
    /* "networks": every --network in order; older records have a single "network". */
    json_t *list = json_object_get(rec->spec, "networks");
    json_t *single = json_object_get(rec->spec, "network");
    size_t n_nets = json_is_array(list) ? json_array_size(list) : (json_is_string(single) ? 1 : 0);
    const char *first = n_nets ? json_string_value(json_is_array(list) ? json_array_get(list, 0) : single) : NULL;
    json_t *jports = json_object_get(rec->spec, "ports");
    if (!first || !strcmp(first, "none") || !strcmp(first, "host")) {
        if (n_nets > 1)
            return berth_error_set(err, -EINVAL, "--network %s cannot be combined with other networks", first);
        if (json_array_size(jports))
            return berth_error_set(err, -EINVAL, "-p needs a network: add --network berth (or another network)");
        return first && !strcmp(first, "host") ? 0 : ctr_loopback_up(init, err);
    }
    size_t n = json_array_size(jports);
    _cleanup_free_ struct net_port *ports = n ? calloc(n, sizeof(*ports)) : NULL;
    _cleanup_free_ struct net_attachment *att = calloc(n_nets, sizeof(*att));
    if ((n && !ports) || !att)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = 0;
    for (size_t i = 0; r == 0 && i < n; i++)
        r = net_port_parse(json_string_value(json_array_get(jports, i)) ?: "", &ports[i], err);
    for (size_t k = 0; r == 0 && k < n_nets; k++) {
        const char *network = json_string_value(json_is_array(list) ? json_array_get(list, k) : single);
        if (!network || !strcmp(network, "none") || !strcmp(network, "host"))
            return berth_error_set(err, -EINVAL, "--network %s cannot be combined with other networks",
                                   network ? network : "(null)");
        /* Ports and MAC belong to the first network; an address and aliases to the network they
         * were given for (run --ip/--network-alias, network connect --ip/--alias). Records from
         * before "network_opts" had a first-network "ip". */
        struct net_attach_opts opts = { 0 };
        if (k == 0)
            opts = (struct net_attach_opts){ .ports = ports, .n_ports = n,
                                             .ip = json_string_value(json_object_get(rec->spec, "ip")),
                                             .mac = json_string_value(json_object_get(rec->spec, "mac")) };
        struct ctr_network_opts no;
        _cleanup_free_ const char **aliases = NULL;
        if (ctr_network_opts_get(rec->spec, network, &no, &aliases) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
        if (no.ip)
            opts.ip = no.ip;
        opts.aliases = no.aliases;
        opts.n_aliases = no.n_aliases;
        /* Held from create on; this makes sure for containers created before reservations
         * existed (the same request again for the others). */
        r = net_reserve(network, rec->id, rec->name, "container", &opts, err);
        if (r < 0)
            break;
        r = net_attach_container(strcmp(network, NET_DEFAULT_NETWORK) ? network : NULL, rec->id, rec->name, NULL,
                                 init, &opts, &att[k], err);
    }
    if (r == 0) {
        const char *hostname = json_string_value(json_object_get(rec->spec, "hostname"));
        char short_id[13];
        snprintf(short_id, sizeof(short_id), "%.12s", rec->id);
        r = net_write_etc_files(rootfs, att, n_nets, hostname ? hostname : short_id, err);
    }
    return r;
}

static void release_runtime(const struct ctr_record *rec)
{
    net_detach(rec->id, NULL);
    _cleanup_free_ char *oci = ctr_oci_root();
    if (oci)
        container_delete(oci, rec->id, true, NULL);
    _cleanup_free_ char *rootfs = ctr_path(rec, "rootfs");
    if (rootfs)
        umount2(rootfs, MNT_DETACH);
    _cleanup_free_ char *run = ctr_run_dir(rec->id);
    if (run)
        fs_rm_rf(run);
}

/* The lifecycle lock of a container: a start, the recording of a run's end (which releases its
 * mounts, network and runtime state) and a removal exclude each other. Without it the monitor's
 * on-exit handler of a run that had just ended could release what a `berth restart` had meanwhile
 * set up for the next run, and a start racing `rm -f` mounted into a directory being removed.
 * The lock is flock on the container's directory itself: a lock file inside it could be made
 * anew by a start while `rm` removes the directory, and would then lock nothing. Released when
 * the fd is closed. */
static int ctr_lock(const struct ctr_record *rec, struct berth_error *err)
{
    _cleanup_free_ char *dir = ctr_dir(rec->id);
    if (!dir)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)   /* removed meanwhile */
        return berth_error_set(err, -ENOENT, "container %s no longer exists", rec->name);
    if (fd < 0)
        return berth_error_errno(err, -errno, "container %s: opening %s", rec->name, dir);
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int r = berth_error_errno(err, -errno, "container %s: locking %s", rec->name, dir);
            close(fd);
            return r;
        }
    }
    return fd;
}

/* Takes the run fields (state, monitor, exit) of rec from the database as they are now; not the
 * restart count, which the restart policy raises before it starts the next run. -ENOENT when the
 * container was removed meanwhile. */
static int reload_run(struct store *s, struct ctr_record *rec, struct berth_error *err)
{
    struct ctr_record now;
    struct berth_error find_err = { 0 };
    int r = ctr_record_find(s, rec->id, &now, &find_err);
    if (r == -ENOENT)
        return berth_error_set(err, r, "container %s no longer exists", rec->name);
    if (r < 0)
        return berth_error_set(err, r, "%s", berth_error_message(&find_err));
    memcpy(rec->state, now.state, sizeof(rec->state));
    rec->monitor_pid = now.monitor_pid;
    rec->exit_code = now.exit_code;
    rec->started = now.started;
    rec->finished = now.finished;
    ctr_record_clear(&now);
    return 0;
}

int ctr_move_monitor_fds(const int *src, int n)
{
    int tmp[8];
    for (int k = 0; k < n; k++)
        if (src[k] >= 0 && (tmp[k] = fcntl(src[k], F_DUPFD_CLOEXEC, 10)) < 0)
            return -errno;
    for (int k = 0; k < n; k++)
        if (src[k] >= 0 && dup2(tmp[k], 3 + k) < 0)
            return -errno;
    return 0;
}

static void close_pair(int p[2])
{
    for (int i = 0; i < 2; i++)
        if (p[i] >= 0) {
            close(p[i]);
            p[i] = -1;
        }
}

/* The user, and with a pty its size, go into config.json just before each start. */
static int ctr_prepare_config(const struct ctr_record *rec, const char *cfg_path, const char *rootfs,
                              const struct ctr_start_opts *o, struct berth_error *err)
{
    const char *user = json_string_value(json_object_get(rec->spec, "user"));
    bool tty = json_is_true(json_object_get(rec->spec, "tty"));
    if (!user && !tty)
        return 0;
    _cleanup_json_ json_t *cfg = NULL;
    int r = json_load_path(cfg_path, 1 << 20, &cfg, err);
    if (r == 0)
        r = ctr_resolve_user(rootfs, user, json_object_get(cfg, "process"), err);
    if (r == 0 && tty) {
        json_t *process = json_object_get(cfg, "process");
        json_object_set_new(process, "terminal", json_true());
        if (o->rows && o->cols)
            json_object_set_new(process, "consoleSize", json_pack("{s:i, s:i}", "height", (int) o->rows,
                                                                  "width", (int) o->cols));
        else
            json_object_del(process, "consoleSize");
    }
    if (r == 0)
        r = json_write_path(cfg_path, cfg, err);
    return r;
}

int ctr_start(struct store *s, struct ctr_record *rec, bool keep_on_exit, struct berth_error *err)
{
    struct ctr_start_opts o = { .keep_on_exit = keep_on_exit };
    return ctr_start_with(s, rec, &o, err);
}

int ctr_start_with(struct store *s, struct ctr_record *rec, const struct ctr_start_opts *o, struct berth_error *err)
{
    int r = ctr_refresh(s, rec, err);
    if (r < 0)
        return r;
    /* Held until the new run is recorded; the state is read again under it, as another berth
     * may have started the container meanwhile. */
    _cleanup_close_ int lock = ctr_lock(rec, err);
    if (lock < 0)
        return lock;
    r = reload_run(s, rec, err);
    if (r < 0)
        return r;
    if (!strcmp(rec->state, "running") || !strcmp(rec->state, "paused"))
        return berth_error_set(err, -EBUSY, "container %s is already running", rec->name);
    char monitor[PATH_MAX], self[PATH_MAX];
    if (proc_find_sibling_binary("berth-monitor", monitor, sizeof(monitor)) < 0)
        return berth_error_set(err, -ENOENT, "berth-monitor not found beside berth");
    ssize_t sn = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sn < 0)
        return berth_error_errno(err, -errno, "/proc/self/exe");
    self[sn] = '\0';
    _cleanup_free_ char *dir = ctr_dir(rec->id);
    _cleanup_free_ char *oci = ctr_oci_root();
    _cleanup_free_ char *log = dir ? fs_path_join(dir, "container.log") : NULL;
    _cleanup_free_ char *exit_file = dir ? fs_path_join(dir, "exit.json") : NULL;
    _cleanup_free_ char *cfg_path = dir ? fs_path_join(dir, "config.json") : NULL;
    _cleanup_free_ char *rootfs = dir ? fs_path_join(dir, "rootfs") : NULL;
    if (!log || !exit_file || !oci || !cfg_path || !rootfs)
        return berth_error_set(err, -ENOMEM, "out of memory");
    bool tty = json_is_true(json_object_get(rec->spec, "tty"));
    bool interactive = json_is_true(json_object_get(rec->spec, "interactive"));
    release_runtime(rec); /* a previous run's leftovers */
    unlink(exit_file);
    r = mount_rootfs(rec, dir, err);
    if (r < 0)
        return r;
    _cleanup_close_ int lfd = -1, client = -1;
    int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, sync[2] = { -1, -1 }, in[2] = { -1, -1 };
    r = ctr_prepare_config(rec, cfg_path, rootfs, o, err);
    if (r == 0)
        r = ctr_attach_listen(rec->id, &lfd, err);
    if (r == 0 && (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(sync, O_CLOEXEC) < 0 ||
                   (interactive && !tty && pipe2(in, O_CLOEXEC) < 0)))
        r = berth_error_errno(err, -errno, "pipe");
    pid_t mon = r == 0 ? fork() : -1;
    if (r == 0 && mon < 0)
        r = berth_error_errno(err, -errno, "fork");
    if (r < 0) {
        close_pair(out);
        close_pair(errp);
        close_pair(sync);
        close_pair(in);
        umount2(rootfs, MNT_DETACH);
        return r;
    }
    if (mon == 0) {
        /* The monitor-to-be: the init is created as our child, then we become berth-monitor. */
        setsid();
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        close(sync[0]);
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        dup2(in[0] >= 0 ? in[0] : devnull, 0);
        dup2(out[1], 1);
        dup2(errp[1], 2);
        int console[2] = { -1, -1 };
        struct berth_error cerr = { 0 };
        struct container_create_opts co = { .root = oci, .id = rec->id, .bundle = dir };
        int q = 0;
        if (tty) {
            /* The init sends us its pty master; the monitor keeps it for the container's life. */
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) < 0)
                q = berth_error_errno(&cerr, -errno, "socketpair");
            co.console_fd = &console[1];
        }
        pid_t init = 0;
        if (q == 0)
            q = container_create(&co, &init, &cerr);
        int master = -1;
        if (q == 0 && tty && (master = console_recv_master(console[0])) < 0)
            q = berth_error_errno(&cerr, master, "receiving the container's pty");
        if (q == 0)
            q = ctr_network_attach(rec, init, rootfs, &cerr);
        if (q == 0)
            q = container_start(oci, rec->id, &cerr);
        if (q < 0) {
            const char *m = berth_error_message(&cerr);
            ssize_t w = write(sync[1], m, strlen(m));
            (void) w;
            if (init > 0)
                container_delete(oci, rec->id, true, NULL);
            net_detach(rec->id, NULL);
            _exit(1);
        }
        /* Only the init holds the pipes' write ends (or the pty's peer) now; the monitor gets the
         * output as fd 3 (and 4), the attach socket as 5, the stdin pipe's write end as 6. */
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        int fds[4] = { tty ? master : out[0], tty ? -1 : errp[0], lfd, in[1] };
        if (ctr_move_monitor_fds(fds, 4) < 0) {
            ssize_t w = write(sync[1], "cannot pass fds to berth-monitor", 32);
            (void) w;
            container_kill(oci, rec->id, SIGKILL, true, NULL);
            _exit(1);
        }
        ssize_t w = write(sync[1], "OK", 2);
        (void) w;
        char pid_text[16];
        snprintf(pid_text, sizeof(pid_text), "%d", (int) init);
        char *argv[16];
        int k = 0;
        argv[k++] = monitor;
        argv[k++] = "--pid";
        argv[k++] = pid_text;
        argv[k++] = "--log";
        argv[k++] = log;
        argv[k++] = "--exit";
        argv[k++] = exit_file;
        argv[k++] = "--attach";
        if (tty)
            argv[k++] = "--tty";
        if (in[1] >= 0)
            argv[k++] = "--stdin";
        /* An attached berth run records the exit and cleans up itself; should it be killed, the
         * next berth command that looks does (ctr_refresh). Detached containers need the hook. */
        if (!o->keep_on_exit) {
            argv[k++] = "--on-exit";
            argv[k++] = self;
            argv[k++] = "container-exited";
            argv[k++] = rec->id;
        }
        argv[k] = NULL;
        execv(monitor, argv);
        _exit(127);
    }
    close_pair(out);
    close_pair(errp);
    close_pair(in);
    close(sync[1]);
    /* Connected before the container's process runs: the monitor accepts it before it reads any
     * output, so the client misses nothing. */
    if (o->ret_attach)
        r = ctr_attach_connect(rec->id, rec->name, &client, err);
    char msg[1024];
    ssize_t n = read(sync[0], msg, sizeof(msg) - 1);
    close(sync[0]);
    msg[n > 0 ? n : 0] = '\0';
    if (n != 2 || strcmp(msg, "OK") != 0) {
        waitpid(mon, NULL, 0);
        umount2(rootfs, MNT_DETACH);
        return berth_error_set(err, -EIO, "container %s: %s", rec->name, n > 0 ? msg : "the runtime failed to start it");
    }
    snprintf(rec->state, sizeof(rec->state), "running");
    rec->monitor_pid = mon;
    rec->started = time(NULL);
    rec->finished = 0;
    rec->exit_code = -1;
    if (r == 0)
        r = ctr_record_update(s, rec, err);
    if (r == 0 && o->ret_attach)
        *o->ret_attach = TAKE_FD(client);
    return r;
}

/* Whether rec's run has ended: its monitor recorded the exit (then in *ret_exit), or died without
 * recording (kill -9: the container is gone or orphaned; *ret_exit stays NULL). While it runs,
 * rec->state follows the runtime (running or paused). */
static bool run_ended(struct ctr_record *rec, json_t **ret_exit)
{
    _cleanup_free_ char *exit_file = ctr_path(rec, "exit.json");
    if (exit_file && json_load_path(exit_file, 4096, ret_exit, NULL) == 0)
        return true;
    if (rec->monitor_pid <= 0 || kill(rec->monitor_pid, 0) < 0)
        return true;
    _cleanup_free_ char *oci = ctr_oci_root();
    _cleanup_json_ json_t *st = NULL;
    if (oci && container_state(oci, rec->id, &st, NULL) == 0) {
        const char *status = json_string_value(json_object_get(st, "status"));
        snprintf(rec->state, sizeof(rec->state), "%s", status && !strcmp(status, "paused") ? "paused" : "running");
    }
    return false;
}

int ctr_refresh(struct store *s, struct ctr_record *rec, struct berth_error *err)
{
    if (strcmp(rec->state, "running") && strcmp(rec->state, "paused"))
        return 0;
    _cleanup_json_ json_t *ex = NULL;
    if (!run_ended(rec, &ex))
        return 0;
    /* Recorded once, under the lock, and only while the record still shows this run: another
     * berth may have recorded its end already, and started the next run. */
    pid_t monitor = rec->monitor_pid;
    int64_t started = rec->started;
    _cleanup_close_ int lock = ctr_lock(rec, err);
    if (lock < 0)
        return lock;
    int r = reload_run(s, rec, err);
    if (r < 0)
        return r;
    if (rec->monitor_pid != monitor || rec->started != started ||
        (strcmp(rec->state, "running") && strcmp(rec->state, "paused")))
        return 0;
    snprintf(rec->state, sizeof(rec->state), "exited");
    rec->exit_code = ex ? (int) json_integer_value(json_object_get(ex, "exit_code")) : -1;
    rec->finished = ex ? json_integer_value(json_object_get(ex, "finished")) : time(NULL);
    rec->monitor_pid = 0;
    release_runtime(rec);
    return ctr_record_update(s, rec, err);
}

int ctr_kill(struct store *s, struct ctr_record *rec, int sig, struct berth_error *err)
{
    int r = ctr_refresh(s, rec, err);
    if (r < 0)
        return r;
    if (strcmp(rec->state, "running") && strcmp(rec->state, "paused"))
        return berth_error_set(err, -EINVAL, "container %s is not running", rec->name);
    _cleanup_free_ char *oci = ctr_oci_root();
    return container_kill(oci, rec->id, sig, sig == SIGKILL, err);
}

int ctr_wait(struct store *s, struct ctr_record *rec, int timeout_ms, struct berth_error *err)
{
    for (int waited = 0; timeout_ms < 0 || waited <= timeout_ms; waited += 20) {
        int r = ctr_refresh(s, rec, err);
        if (r < 0)
            return r;
        if (!strcmp(rec->state, "exited") || !strcmp(rec->state, "created"))
            return 0;
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return -ETIMEDOUT;
}

int ctr_stop(struct store *s, struct ctr_record *rec, int timeout_s, struct berth_error *err)
{
    int r = ctr_refresh(s, rec, err);
    if (r < 0)
        return r;
    if (strcmp(rec->state, "running") && strcmp(rec->state, "paused"))
        return 0; /* docker stop of a stopped container succeeds */
    _cleanup_free_ char *oci = ctr_oci_root();
    if (!strcmp(rec->state, "paused"))
        container_pause(oci, rec->id, false, NULL);
    container_kill(oci, rec->id, SIGTERM, false, NULL);
    if (ctr_wait(s, rec, timeout_s * 1000, err) == 0)
        return 0;
    container_kill(oci, rec->id, SIGKILL, true, NULL);
    r = ctr_wait(s, rec, 10000, err);
    return r == -ETIMEDOUT ? berth_error_set(err, r, "container %s does not stop", rec->name) : r;
}

int ctr_pause(struct store *s, struct ctr_record *rec, bool pause, struct berth_error *err)
{
    int r = ctr_refresh(s, rec, err);
    if (r < 0)
        return r;
    if (pause && !strcmp(rec->state, "paused"))
        return berth_error_set(err, -EINVAL, "container %s is already paused", rec->name);
    if (pause && strcmp(rec->state, "running"))
        return berth_error_set(err, -EINVAL, "container %s is not running", rec->name);
    if (!pause && strcmp(rec->state, "paused"))
        return berth_error_set(err, -EINVAL, "container %s is not paused", rec->name);
    _cleanup_free_ char *oci = ctr_oci_root();
    r = container_pause(oci, rec->id, pause, err);
    if (r < 0)
        return r;
    snprintf(rec->state, sizeof(rec->state), "%s", pause ? "paused" : "running");
    return ctr_record_update(s, rec, err);
}

int ctr_remove(struct store *s, struct ctr_record *rec, bool force, struct berth_error *err)
{
    /* Removed under the lifecycle lock, so a start that comes meanwhile either runs first (and
     * -f kills that run too) or finds the container gone; the lock is taken after the kill,
     * since waiting for the end takes it too. */
    _cleanup_close_ int lock = -1;
    for (int attempt = 0; lock < 0; attempt++) {
        int r = ctr_refresh(s, rec, err);
        if (r < 0)
            return r;
        if (!strcmp(rec->state, "running") || !strcmp(rec->state, "paused")) {
            if (!force)
                return berth_error_set(err, -EBUSY, "container %s is running: stop it first or use -f", rec->name);
            if (attempt == 5)
                return berth_error_set(err, -EBUSY, "container %s: started again each time it was killed", rec->name);
            _cleanup_free_ char *oci = ctr_oci_root();
            container_kill(oci, rec->id, SIGKILL, true, NULL);
            ctr_wait(s, rec, 10000, NULL);
        }
        lock = ctr_lock(rec, err);
        if (lock == -ENOENT) {
            /* No directory: a create killed before it made it (or a removal racing this one).
             * Nothing can start such a container (a start takes the lock), so its record and
             * what it holds (an address reservation) are removed without the lock. */
            berth_error_clear(err);
            r = reload_run(s, rec, err);
            if (r < 0)
                return r;
            break;
        }
        if (lock < 0)
            return lock;
        r = reload_run(s, rec, err);
        if (r < 0)
            return r;
        if (!strcmp(rec->state, "running") || !strcmp(rec->state, "paused")) {
            close(lock);   /* started meanwhile: that run goes first */
            lock = -1;
        }
    }
    int r;
    release_runtime(rec);
    _cleanup_free_ char *dir = ctr_dir(rec->id);
    if (dir && (r = fs_rm_rf(dir)) < 0)
        return berth_error_errno(err, r, "removing %s", dir);
    struct image_store *is = NULL;
    if (image_store_open(NULL, &is, NULL) == 0) {
        char holder[80];
        snprintf(holder, sizeof(holder), "container:%s", rec->id);
        image_store_release(is, rec->image_digest, holder, NULL);
        image_store_free(is);
    }
    /* Before the record: a removal killed in between leaves a record whose rm finishes the job. */
    r = net_unreserve(NULL, rec->id, err);
    if (r < 0)
        return r;
    return ctr_record_delete(s, rec->id, err);
}

int ctr_exited(struct store *s, struct ctr_record *rec, bool keep, struct berth_error *err)
{
    int r = ctr_refresh(s, rec, err);
    if (r < 0 || strcmp(rec->state, "exited"))
        return r;
    if (rec->auto_remove && !keep)
        return ctr_remove(s, rec, true, err);
    bool again = !strcmp(rec->restart, "always") || (!strcmp(rec->restart, "on-failure") && rec->exit_code != 0);
    if (again) {
        rec->restarts++;
        return ctr_start(s, rec, false, err);
    }
    return 0;
}
