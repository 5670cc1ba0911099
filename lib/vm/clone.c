/* Templates and mass clones. A clone is a row in the database plus a thin qcow2 overlay made
 * from a prepared template (qcow2_template_create: no fsync, no shared lock), so a thousand clones
 * take about as long as a thousand small file creations, and parallel clone runs never fail on a
 * lock (names are claimed by the database's unique constraint, the next number on a clash). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "image/image.h"
#include "net/attach.h"
#include "store/store.h"
#include "vm/lifecycle.h"
#include "vm/template.h"
#include "vmm/disk/disk-tools.h"
#include "vmm/disk/qcow2.h"

int vm_clone(struct store *s, const char *template_name, unsigned count, const char *prefix,
             const struct vm_create_opts *base, unsigned *ret_created, char ***ret_names, struct berth_error *err)
{
    *ret_created = 0;
    if (!vm_name_is_valid(template_name))
        return berth_error_set(err, -EINVAL, "invalid template name '%s'", template_name);
    _cleanup_free_ char *backing = vm_named_template_path(template_name);
    if (!backing)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (!fs_exists(backing))
        return berth_error_set(err, -ENOENT, "no such VM template: %s", template_name);
    if (count == 0 || count > 100000)
        return berth_error_set(err, -EINVAL, "--count %u: must be between 1 and 100000", count);
    const char *pfx = prefix && *prefix ? prefix : template_name;
    char probe[VM_NAME_MAX + 16];
    snprintf(probe, sizeof(probe), "%s-1", pfx);
    if (!vm_name_is_valid(probe))
        return berth_error_set(err, -EINVAL, "invalid --name-prefix '%s'", pfx);

    /* Every clone joins the same network, chosen (and checked) once. */
    char network[VM_NETWORK_MAX];
    int r = vm_network_choose(base->network, NULL, network, err);
    if (r < 0)
        return r;
    r = vm_net_opts_check(base, network, err);
    if (r < 0)
        return r;
    /* An address, and an alias, name one workload on a network. */
    if (count > 1 && (base->ip || base->n_aliases))
        return berth_error_set(err, -EINVAL, "%s names one VM: clone with --count 1 to use it",
                               base->ip ? "--ip" : "--network-alias");
    struct qcow2_create_opts copts = { .backing = backing, .backing_format = "qcow2" };
    struct qcow2_template *t = NULL;
    r = qcow2_template_new(&copts, NULL, &t, err);
    if (r < 0)
        return r;
    struct vm_create_opts o = *base;
    o.template_name = template_name;
    o.image = o.disk = NULL;
    unsigned next = 1;
    for (unsigned made = 0; made < count && r == 0;) {
        char name[VM_NAME_MAX + 1];
        if (snprintf(name, sizeof(name), "%s-%u", pfx, next++) >= (int) sizeof(name)) {
            r = berth_error_set(err, -EINVAL, "--name-prefix '%s' is too long", pfx);
            break;
        }
        struct vm_record rec;
        o.name = name;
        o.hostname = NULL;
        struct vm_create_opts *op = &o;
        /* fill like vm_create, but the disk comes from the prepared template */
        rec = (struct vm_record){ 0 };
        snprintf(rec.name, sizeof(rec.name), "%s", name);
        snprintf(rec.backend, sizeof(rec.backend), "%s", op->backend ? op->backend : "auto");
        snprintf(rec.template_name, sizeof(rec.template_name), "%s", template_name);
        snprintf(rec.kernel_version, sizeof(rec.kernel_version), "%s", op->kernel_version ? op->kernel_version : "");
        rec.cpus = op->cpus ? op->cpus : 1;
        rec.memory_mib = op->memory_mib ? op->memory_mib : 256;
        rec.disk_size = 0;
        rec.args = op->args ? json_incref(op->args) : NULL;
        rec.cmdline_extra = op->cmdline_extra ? strdup(op->cmdline_extra) : NULL;
        snprintf(rec.network, sizeof(rec.network), "%s", network);
        rec.balloon = op->balloon;
        vm_record_set_net_opts(op, &rec);
        struct berth_error ierr = { 0 };
        r = vm_record_insert(s, &rec, &ierr);
        if (r == -EEXIST) {
            vm_record_clear(&rec);
            r = 0;
            continue;
        }
        if (r < 0) {
            vm_record_clear(&rec);
            r = berth_error_set(err, r, "%s", berth_error_message(&ierr));
            break;
        }
        /* As vm_create: after the record (its rm releases it), before the disk. */
        r = vm_net_reserve(&rec, err);
        if (r < 0) {
            vm_record_delete(s, rec.id, NULL);
            vm_record_clear(&rec);
            break;
        }
        _cleanup_free_ char *dir = vm_dir(rec.id);
        _cleanup_free_ char *disk = dir ? fs_path_join(dir, "disk.qcow2") : NULL;
        if (!disk)
            r = berth_error_set(err, -ENOMEM, "out of memory");
        else if ((r = fs_mkdir_p(dir, 0700)) < 0)
            r = berth_error_errno(err, r, "%s", dir);
        else
            r = qcow2_template_create(t, disk, err);
        if (r < 0) {
            if (dir)
                fs_rm_rf(dir);
            net_unreserve(NULL, rec.id, NULL);
            vm_record_delete(s, rec.id, NULL);
        } else {
            made++;
            (*ret_created)++;
            if (ret_names && strv_push(ret_names, rec.name) < 0)
                r = berth_error_set(err, -ENOMEM, "out of memory");
        }
        vm_record_clear(&rec);
    }
    qcow2_template_free(t);
    return r;
}

int vm_template_create(struct store *s, const char *name, const char *from_vm, const char *from_image,
                       uint64_t disk_size, struct berth_error *err)
{
    if (!vm_name_is_valid(name) || !strncmp(name, "image-", 6))
        return berth_error_set(err, -EINVAL, "invalid template name '%s' (names starting with image- are reserved)", name);
    if (!!from_vm == !!from_image)
        return berth_error_set(err, -EINVAL, "a template comes from exactly one of --from VM or --image IMAGE");
    _cleanup_free_ char *path = vm_named_template_path(name);
    _cleanup_free_ char *dir = fs_path_join(berth_root_dir(), "templates");
    if (!path || !dir)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (fs_exists(path))
        return berth_error_set(err, -EEXIST, "a VM template named '%s' already exists", name);
    int r = fs_mkdir_p(dir, 0755);
    if (r < 0)
        return berth_error_errno(err, r, "%s", dir);
    _cleanup_free_ char *src = NULL;
    if (from_vm) {
        struct vm_record rec;
        r = vm_record_find(s, from_vm, &rec, err);
        if (r < 0)
            return r;
        r = vm_refresh_state(s, &rec, err);
        bool running = !strcmp(rec.state, "running");
        _cleanup_free_ char *vdir = vm_dir(rec.id);
        vm_record_clear(&rec);
        if (r < 0)
            return r;
        if (running)
            return berth_error_set(err, -EBUSY, "VM %s is running: stop it before making a template of its disk", from_vm);
        src = vdir ? fs_path_join(vdir, "disk.qcow2") : NULL;
    } else {
        struct image_store *is = NULL;
        struct image *img = NULL;
        r = image_store_open(NULL, &is, err);
        if (r == 0)
            r = image_lookup(is, from_image, &img, err);
        if (r == 0)
            r = vm_image_template(is, img, disk_size ? disk_size : (1ull << 30), &src, err);
        if (img)
            image_free(img);
        image_store_free(is);
        if (r < 0)
            return r;
    }
    if (!src)
        return berth_error_set(err, -ENOMEM, "out of memory");
    /* Flattened into one standalone file: a template must not depend on the VM it came from. */
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.%d", path, (int) getpid()) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    r = disk_convert(src, "qcow2", tmp, "qcow2", 0, err);
    if (r == 0 && (chmod(tmp, 0444) < 0 || link(tmp, path) < 0))
        r = errno == EEXIST ? berth_error_set(err, -EEXIST, "a VM template named '%s' already exists", name)
                            : berth_error_errno(err, -errno, "%s", path);
    unlink(tmp);
    return r;
}

int vm_template_remove(struct store *s, const char *name, struct berth_error *err)
{
    if (!vm_name_is_valid(name))
        return berth_error_set(err, -EINVAL, "invalid template name '%s'", name);
    _cleanup_free_ char *path = vm_named_template_path(name);
    if (!path)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (!fs_exists(path))
        return berth_error_set(err, -ENOENT, "no such VM template: %s", name);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT count(*) FROM vms WHERE template = ?", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0)
        return berth_error_set(err, -EBUSY, "VM template %s is used by %d VM(s): remove them first", name,
                               sqlite3_column_int(st, 0));
    if (unlink(path) < 0)
        return berth_error_errno(err, -errno, "%s", path);
    return 0;
}

int vm_template_list(char ***ret, struct berth_error *err)
{
    _cleanup_free_ char *dir = fs_path_join(berth_root_dir(), "templates");
    _cleanup_strv_ char **names = NULL;
    if (!dir)
        return berth_error_set(err, -ENOMEM, "out of memory");
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t n = strlen(de->d_name);
            if (n <= 6 || strcmp(de->d_name + n - 6, ".qcow2") || !strncmp(de->d_name, "image-", 6))
                continue;
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int) (n - 6), de->d_name);
            if (strv_push(&names, name) < 0) {
                closedir(d);
                return berth_error_set(err, -ENOMEM, "out of memory");
            }
        }
        closedir(d);
    }
    if (!names && strv_push(&names, "") == 0) {
        free(names[0]);
        names[0] = NULL;
    }
    *ret = TAKE_PTR(names);
    return 0;
}
