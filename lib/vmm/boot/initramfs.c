#include "vmm/boot/initramfs.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "vmm/boot/cpio.h"

const char *const initramfs_guest_modules[] = {
    "virtio_mmio", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng",
    "vmw_vsock_virtio_transport", "virtio_balloon", "overlay", NULL,
};

#define MODULES_DEP_MAX (16u << 20)
#define MAX_DEPTH 16

struct module_db {
    char *dep_text;  /* modules.dep, lines split in place */
    char **lines;    /* "kernel/x/y.ko: deps" */
    size_t n_lines;
    char *builtin;   /* modules.builtin, may be NULL */
};

/* Module names treat '-' and '_' alike (virtio-rng.ko is loaded as virtio_rng). */
static bool module_name_eq(const char *path_or_name, size_t len, const char *name)
{
    const char *base = path_or_name;
    for (size_t i = 0; i < len; i++)
        if (path_or_name[i] == '/')
            base = path_or_name + i + 1;
    size_t blen = (size_t) (path_or_name + len - base);
    if (blen > 3 && !strncmp(base + blen - 3, ".ko", 3))
        blen -= 3;
    if (blen != strlen(name))
        return false;
    for (size_t i = 0; i < blen; i++) {
        char a = base[i] == '-' ? '_' : base[i], b = name[i] == '-' ? '_' : name[i];
        if (a != b)
            return false;
    }
    return true;
}

static const char *module_line(const struct module_db *db, const char *name)
{
    for (size_t i = 0; i < db->n_lines; i++) {
        const char *colon = strchr(db->lines[i], ':');
        if (colon && module_name_eq(db->lines[i], (size_t) (colon - db->lines[i]), name))
            return db->lines[i];
    }
    return NULL;
}

static bool module_builtin(const struct module_db *db, const char *name)
{
    if (!db->builtin)
        return false;
    for (const char *p = db->builtin; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t) (nl - p) : strlen(p);
        if (module_name_eq(p, len, name))
            return true;
        p += len + (nl ? 1 : 0);
    }
    return false;
}

static int module_db_load(const char *modules_dir, struct module_db *db, struct berth_error *err)
{
    _cleanup_free_ char *dep_path = fs_path_join(modules_dir, "modules.dep");
    _cleanup_free_ char *builtin_path = fs_path_join(modules_dir, "modules.builtin");
    if (!dep_path || !builtin_path)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = fs_read_file(dep_path, MODULES_DEP_MAX, &db->dep_text, NULL, err);
    if (r < 0)
        return berth_error_prefix(err, r, "guest kernel modules: ");
    if (fs_read_file(builtin_path, MODULES_DEP_MAX, &db->builtin, NULL, NULL) < 0)
        db->builtin = NULL;
    size_t cap = 0;
    for (char *save = NULL, *line = strtok_r(db->dep_text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (ARRAY_RESERVE(db->lines, cap, db->n_lines + 1, 1024) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
        db->lines[db->n_lines++] = line;
    }
    return 0;
}

static void module_db_free(struct module_db *db)
{
    free(db->dep_text);
    free(db->lines);
    free(db->builtin);
}

/* Appends name's dependencies (depth first) and then name's module path to order. */
static int module_resolve(const struct module_db *db, const char *name, int depth, char ***order,
                          struct berth_error *err)
{
    if (depth > MAX_DEPTH)
        return berth_error_set(err, -ELOOP, "guest kernel modules: dependency chain of %s is too deep", name);
    const char *line = module_line(db, name);
    if (!line) {
        if (module_builtin(db, name))
            return 0;
        return berth_error_set(err, -ENOENT, "guest kernel modules: %s is neither a module nor built in", name);
    }
    const char *colon = strchr(line, ':');
    _cleanup_free_ char *path = strndup(line, (size_t) (colon - line));
    _cleanup_free_ char *deps = strdup(colon + 1);
    if (!path || !deps)
        return berth_error_set(err, -ENOMEM, "out of memory");
    for (char **o = *order; o && *o; o++)
        if (!strcmp(*o, path))
            return 0;
    /* modules.dep lists every transitive dependency; loading each one's own dependencies first
     * gives a valid order without relying on the list's order. */
    for (char *save = NULL, *dep = strtok_r(deps, " ", &save); dep; dep = strtok_r(NULL, " ", &save)) {
        const char *base = strrchr(dep, '/');
        _cleanup_free_ char *dep_name = strdup(base ? base + 1 : dep);
        if (!dep_name)
            return berth_error_set(err, -ENOMEM, "out of memory");
        char *dot = strstr(dep_name, ".ko");
        if (dot)
            *dot = '\0';
        int r = module_resolve(db, dep_name, depth + 1, order, err);
        if (r < 0)
            return r;
    }
    for (char **o = *order; o && *o; o++)
        if (!strcmp(*o, path))
            return 0;
    return strv_push(order, path) < 0 ? berth_error_set(err, -ENOMEM, "out of memory") : 0;
}

static const char *path_basename(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int initramfs_build(const char *modules_dir, const char *agent_path, const char *out_path, struct berth_error *err)
{
    struct module_db db = { 0 };
    _cleanup_strv_ char **order = NULL;
    int r = module_db_load(modules_dir, &db, err);
    for (size_t i = 0; r == 0 && initramfs_guest_modules[i]; i++)
        r = module_resolve(&db, initramfs_guest_modules[i], 0, &order, err);
    module_db_free(&db);
    if (r < 0)
        return r;

    struct cpio_writer *w = NULL;
    r = cpio_writer_new(out_path, &w, err);
    if (r < 0)
        return r;
    static const char *const dirs[] = { "dev", "proc", "sys", "run", "tmp", "newroot", "lib", "lib/modules",
                                        "lib/berth", NULL };
    for (size_t i = 0; r == 0 && dirs[i]; i++)
        r = cpio_add_dir(w, dirs[i], 0755, err);
    /* The kernel opens /dev/console before /init runs; devtmpfs is mounted by the agent later. */
    if (r == 0)
        r = cpio_add_chardev(w, "dev/console", 0600, 5, 1, err);
    if (r == 0)
        r = cpio_add_file_from(w, "init", 0755, agent_path, err);

    size_t list_len = 0;
    _cleanup_free_ char *list = NULL;
    for (char **o = order; r == 0 && o && *o; o++) {
        _cleanup_free_ char *src = fs_path_join(modules_dir, *o);
        _cleanup_free_ char *dst = NULL;
        if (!src || asprintf(&dst, "lib/modules/%s", path_basename(*o)) < 0) {
            dst = NULL;
            r = berth_error_set(err, -ENOMEM, "out of memory");
            break;
        }
        r = cpio_add_file_from(w, dst, 0644, src, err);
        size_t add = strlen(path_basename(*o)) + 1;
        char *nl = realloc(list, list_len + add + 1);
        if (!nl) {
            r = berth_error_set(err, -ENOMEM, "out of memory");
            break;
        }
        list = nl;
        sprintf(list + list_len, "%s\n", path_basename(*o));
        list_len += add;
    }
    if (r == 0)
        r = cpio_add_file(w, "lib/berth/modules.order", 0644, list ? list : "", list_len, err);
    if (r < 0) {
        cpio_writer_abort(w);
        return r;
    }
    return cpio_writer_finish(w, err);
}

static int newest_kernel_version(char **ret, struct berth_error *err)
{
    _cleanup_closedir_ DIR *d = opendir("/boot");
    if (!d)
        return berth_error_errno(err, -errno, "/boot");
    _cleanup_free_ char *best = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "vmlinuz-", 8) != 0)
            continue;
        const char *v = de->d_name + 8;
        _cleanup_free_ char *mods = fs_path_join("/lib/modules", v);
        if (!mods || !fs_exists(mods))
            continue;
        if (!best || strverscmp(v, best) > 0) {
            free(best);
            best = strdup(v);
            if (!best)
                return berth_error_set(err, -ENOMEM, "out of memory");
        }
    }
    if (!best)
        return berth_error_set(err, -ENOENT,
                               "no guest kernel: no /boot/vmlinuz-* with modules in /lib/modules "
                               "(apt-get install linux-image-cloud-amd64)");
    *ret = TAKE_PTR(best);
    return 0;
}

void guest_kernel_clear(struct guest_kernel *k)
{
    free(k->version);
    free(k->kernel);
    free(k->initramfs);
    *k = (struct guest_kernel){ 0 };
}

int guest_kernel_prepare(const char *root, const char *version, const char *agent_path, struct guest_kernel *ret,
                         struct berth_error *err)
{
    struct guest_kernel k = { 0 };
    int r = 0;
    if (version) {
        if (strchr(version, '/') || !strcmp(version, "..") || !strcmp(version, "."))
            return berth_error_set(err, -EINVAL, "bad kernel version '%s'", version);
        k.version = strdup(version);
        if (!k.version)
            return berth_error_set(err, -ENOMEM, "out of memory");
    } else {
        r = newest_kernel_version(&k.version, err);
        if (r < 0)
            return r;
    }
    _cleanup_free_ char *modules_dir = fs_path_join("/lib/modules", k.version);
    _cleanup_free_ char *dir = NULL;
    if (asprintf(&k.kernel, "/boot/vmlinuz-%s", k.version) < 0 || asprintf(&dir, "%s/kernels/%s", root, k.version) < 0 ||
        !modules_dir) {
        guest_kernel_clear(&k);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    k.initramfs = fs_path_join(dir, "initramfs.img");
    struct stat kst, ist, ast;
    if (!k.initramfs)
        r = berth_error_set(err, -ENOMEM, "out of memory");
    else if (stat(k.kernel, &kst) < 0)
        r = berth_error_errno(err, -errno, "guest kernel %s", k.kernel);
    else if (stat(agent_path, &ast) < 0)
        r = berth_error_errno(err, -errno, "guest agent %s", agent_path);
    else if ((r = fs_mkdir_p(dir, 0755)) < 0)
        r = berth_error_errno(err, r, "%s", dir);
    else if (stat(k.initramfs, &ist) < 0 || ist.st_mtim.tv_sec < ast.st_mtim.tv_sec)
        r = initramfs_build(modules_dir, agent_path, k.initramfs, err);
    if (r < 0) {
        guest_kernel_clear(&k);
        return r;
    }
    *ret = k;
    return 0;
}
