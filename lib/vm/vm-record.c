#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "store/named.h"
#include "store/store.h"

static const char vm_schema[] =
    "CREATE TABLE vms ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, backend TEXT NOT NULL, image TEXT NOT NULL,"
    " template TEXT NOT NULL, kernel_version TEXT NOT NULL, hostname TEXT NOT NULL,"
    " mac TEXT NOT NULL UNIQUE, machine_id TEXT NOT NULL, cid INTEGER NOT NULL UNIQUE,"
    " cpus INTEGER NOT NULL, memory_mib INTEGER NOT NULL, disk_size INTEGER NOT NULL,"
    " args TEXT, env TEXT, cmdline_extra TEXT, created INTEGER NOT NULL,"
    " state TEXT NOT NULL, pid INTEGER NOT NULL DEFAULT 0, running_backend TEXT NOT NULL DEFAULT '',"
    " started INTEGER NOT NULL DEFAULT 0, finished INTEGER NOT NULL DEFAULT 0,"
    " exit_status INTEGER NOT NULL DEFAULT -1);";

int vm_store_open(struct store **ret, struct berth_error *err)
{
    struct store *s = NULL;
    int r = store_open(berth_root_dir(), &s, err);
    if (r < 0)
        return r;
    static const char *const migrations[] = {
        vm_schema,
        "ALTER TABLE vms ADD COLUMN network TEXT NOT NULL DEFAULT '';",
        "ALTER TABLE vms ADD COLUMN ports TEXT;",
        "ALTER TABLE vms ADD COLUMN balloon INTEGER NOT NULL DEFAULT 0;",
        "ALTER TABLE vms ADD COLUMN ip TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE vms ADD COLUMN aliases TEXT;",
    };
    r = store_ensure_migrations(s, "vm", migrations, (int) (sizeof(migrations) / sizeof(migrations[0])), err);
    if (r < 0) {
        store_close(s);
        return r;
    }
    *ret = s;
    return 0;
}

bool vm_name_is_valid(const char *name)
{
    return named_is_valid(name, VM_NAME_MAX);
}

static void random_hex(char *out, size_t nbytes)
{
    unsigned char buf[32];
    if (getrandom(buf, nbytes, 0) != (ssize_t) nbytes) {
        /* getrandom does not fail for <= 256 bytes once the pool is ready; never leave it unset. */
        for (size_t i = 0; i < nbytes; i++)
            buf[i] = (unsigned char) (rand() ^ (int) time(NULL));
    }
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", buf[i]);
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *) src : "");
}

static json_t *json_column(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? json_loads((const char *) t, 0, NULL) : NULL;
}

#define VM_COLUMNS                                                                                                \
    "id, name, backend, image, template, kernel_version, hostname, mac, machine_id, cid, cpus, memory_mib,"     \
    " disk_size, args, env, cmdline_extra, created, state, pid, running_backend, started, finished, exit_status,"     \
    " network, ports, balloon, ip, aliases"

static void row_to_record(sqlite3_stmt *st, struct vm_record *r)
{
    *r = (struct vm_record){ 0 };
    copy_text(r->id, sizeof(r->id), sqlite3_column_text(st, 0));
    copy_text(r->name, sizeof(r->name), sqlite3_column_text(st, 1));
    copy_text(r->backend, sizeof(r->backend), sqlite3_column_text(st, 2));
    copy_text(r->image, sizeof(r->image), sqlite3_column_text(st, 3));
    copy_text(r->template_name, sizeof(r->template_name), sqlite3_column_text(st, 4));
    copy_text(r->kernel_version, sizeof(r->kernel_version), sqlite3_column_text(st, 5));
    copy_text(r->hostname, sizeof(r->hostname), sqlite3_column_text(st, 6));
    copy_text(r->mac, sizeof(r->mac), sqlite3_column_text(st, 7));
    copy_text(r->machine_id, sizeof(r->machine_id), sqlite3_column_text(st, 8));
    r->cid = (uint32_t) sqlite3_column_int64(st, 9);
    r->cpus = (unsigned) sqlite3_column_int(st, 10);
    r->memory_mib = (uint64_t) sqlite3_column_int64(st, 11);
    r->disk_size = (uint64_t) sqlite3_column_int64(st, 12);
    r->args = json_column(st, 13);
    r->env = json_column(st, 14);
    const unsigned char *extra = sqlite3_column_text(st, 15);
    r->cmdline_extra = extra ? strdup((const char *) extra) : NULL;
    r->created = sqlite3_column_int64(st, 16);
    copy_text(r->state, sizeof(r->state), sqlite3_column_text(st, 17));
    r->pid = (pid_t) sqlite3_column_int(st, 18);
    copy_text(r->running_backend, sizeof(r->running_backend), sqlite3_column_text(st, 19));
    r->started = sqlite3_column_int64(st, 20);
    r->finished = sqlite3_column_int64(st, 21);
    r->exit_status = sqlite3_column_int(st, 22);
    copy_text(r->network, sizeof(r->network), sqlite3_column_text(st, 23));
    r->ports = json_column(st, 24);
    r->balloon = sqlite3_column_int(st, 25) != 0;
    copy_text(r->ip, sizeof(r->ip), sqlite3_column_text(st, 26));
    r->aliases = json_column(st, 27);
}

static void bind_json(sqlite3_stmt *st, int col, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    if (s)
        sqlite3_bind_text(st, col, s, -1, free);
    else
        sqlite3_bind_null(st, col);
}

int vm_record_insert(struct store *s, struct vm_record *rec, struct berth_error *err)
{
    if (!vm_name_is_valid(rec->name))
        return berth_error_set(err, -EINVAL,
                               "invalid VM name '%s': use letters, digits, '_', '.', '-' (at most %d, starting with "
                               "a letter or digit)", rec->name, VM_NAME_MAX);
    if (!rec->id[0])
        random_hex(rec->id, 32);
    if (!rec->machine_id[0])
        random_hex(rec->machine_id, 16);
    if (!rec->hostname[0])
        snprintf(rec->hostname, sizeof(rec->hostname), "%s", rec->name);
    if (!rec->created)
        rec->created = time(NULL);
    if (!rec->state[0])
        snprintf(rec->state, sizeof(rec->state), "created");
    rec->exit_status = -1;

    /* MAC and CID are unique columns: on the rare collision, draw again. */
    for (int attempt = 0; attempt < 16; attempt++) {
        if (attempt > 0 || !rec->mac[0]) {
            unsigned char b[4];
            if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b))
                return berth_error_errno(err, -errno, "getrandom");
            /* 52:54:00 is the locally administered prefix QEMU users know; the rest is random. */
            snprintf(rec->mac, sizeof(rec->mac), "52:54:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3]);
        }
        if (attempt > 0 || !rec->cid) {
            uint32_t c;
            if (getrandom(&c, sizeof(c), 0) != (ssize_t) sizeof(c))
                return berth_error_errno(err, -errno, "getrandom");
            rec->cid = 3 + c % 0x7ffffff0u; /* 0-2 are reserved; stay below 2^31 */
        }
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = store_prepare(s,
                              "INSERT INTO vms (" VM_COLUMNS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                              &st, err);
        if (r < 0)
            return r;
        sqlite3_bind_text(st, 1, rec->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rec->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, rec->backend[0] ? rec->backend : "auto", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, rec->image, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, rec->template_name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, rec->kernel_version, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, rec->hostname, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, rec->mac, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, rec->machine_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 10, rec->cid);
        sqlite3_bind_int(st, 11, (int) rec->cpus);
        sqlite3_bind_int64(st, 12, (sqlite3_int64) rec->memory_mib);
        sqlite3_bind_int64(st, 13, (sqlite3_int64) rec->disk_size);
        bind_json(st, 14, rec->args);
        bind_json(st, 15, rec->env);
        if (rec->cmdline_extra)
            sqlite3_bind_text(st, 16, rec->cmdline_extra, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 16);
        sqlite3_bind_int64(st, 17, rec->created);
        sqlite3_bind_text(st, 18, rec->state, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 19, 0);
        sqlite3_bind_text(st, 20, "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 21, 0);
        sqlite3_bind_int64(st, 22, 0);
        sqlite3_bind_int(st, 23, -1);
        sqlite3_bind_text(st, 24, rec->network, -1, SQLITE_STATIC);
        bind_json(st, 25, rec->ports);
        sqlite3_bind_int(st, 26, rec->balloon);
        sqlite3_bind_text(st, 27, rec->ip, -1, SQLITE_STATIC);
        bind_json(st, 28, json_array_size(rec->aliases) ? rec->aliases : NULL);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            return 0;
        const char *msg = sqlite3_errmsg(store_db(s));
        if ((rc & 0xff) == SQLITE_CONSTRAINT && strstr(msg, "vms.name"))
            return berth_error_set(err, -EEXIST, "a VM named '%s' already exists", rec->name);
        if ((rc & 0xff) != SQLITE_CONSTRAINT || strstr(msg, "vms.id"))
            return berth_error_set(err, store_errno(rc), "state database: %s", msg);
    }
    return berth_error_set(err, -EAGAIN, "could not draw a unique MAC address and vsock CID");
}

static void load_row(sqlite3_stmt *st, void *record)
{
    row_to_record(st, record);
}

static void clear_record(void *record)
{
    vm_record_clear(record);
}

static const struct named_table vms_table = {
    .table = "vms",
    .columns = VM_COLUMNS,
    .kind = "VM",
    .record_size = sizeof(struct vm_record),
    .load = load_row,
    .clear = clear_record,
};

int vm_record_find(struct store *s, const char *what, struct vm_record *ret, struct berth_error *err)
{
    return named_find(s, &vms_table, what, ret, err);
}

int vm_record_list(struct store *s, struct vm_record **ret, size_t *ret_n, struct berth_error *err)
{
    void *list = NULL;
    int r = named_list(s, &vms_table, "created, name", &list, ret_n, err);
    if (r >= 0)
        *ret = list;
    return r;
}

int vm_record_update_runtime(struct store *s, const struct vm_record *rec, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "UPDATE vms SET state = ?, pid = ?, running_backend = ?, started = ?, finished = ?,"
                          " exit_status = ? WHERE id = ?",
                          &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, rec->state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, rec->pid);
    sqlite3_bind_text(st, 3, rec->running_backend, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, rec->started);
    sqlite3_bind_int64(st, 5, rec->finished);
    sqlite3_bind_int(st, 6, rec->exit_status);
    sqlite3_bind_text(st, 7, rec->id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return berth_error_set(err, -EIO, "state database: %s", sqlite3_errmsg(store_db(s)));
    return 0;
}

int vm_record_update_network(struct store *s, const struct vm_record *rec, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "UPDATE vms SET network = ?, ip = ?, aliases = ?, ports = ? WHERE id = ?", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, rec->network, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rec->ip, -1, SQLITE_STATIC);
    bind_json(st, 3, json_array_size(rec->aliases) ? rec->aliases : NULL);
    bind_json(st, 4, json_array_size(rec->ports) ? rec->ports : NULL);
    sqlite3_bind_text(st, 5, rec->id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return berth_error_set(err, -EIO, "state database: %s", sqlite3_errmsg(store_db(s)));
    return 0;
}

int vm_record_delete(struct store *s, const char *id, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "DELETE FROM vms WHERE id = ?", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return berth_error_set(err, -EIO, "state database: %s", sqlite3_errmsg(store_db(s)));
    return 0;
}

void vm_record_clear(struct vm_record *rec)
{
    json_decref(rec->args);
    json_decref(rec->env);
    json_decref(rec->ports);
    json_decref(rec->aliases);
    free(rec->cmdline_extra);
    rec->args = rec->env = rec->ports = rec->aliases = NULL;
    rec->cmdline_extra = NULL;
}

void vm_record_list_free(struct vm_record *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vm_record_clear(&list[i]);
    free(list);
}

char *vm_dir(const char *id)
{
    char *p;
    return asprintf(&p, "%s/vms/%s", berth_root_dir(), id) < 0 ? NULL : p;
}

/* Short on purpose: Unix socket paths live here and may not exceed 107 bytes. */
char *vm_run_dir(const char *id)
{
    char *p;
    return asprintf(&p, "%s/v/%.12s", berth_runtime_dir(), id) < 0 ? NULL : p;
}

json_t *vm_record_to_json(const struct vm_record *r)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:I, s:I, s:I, s:s, s:i, s:s}",
                          "id", r->id, "name", r->name, "state", r->state, "backend", r->backend, "image", r->image,
                          "template", r->template_name, "hostname", r->hostname, "mac", r->mac, "cid",
                          (json_int_t) r->cid, "cpus", (int) r->cpus, "memory_mib", (json_int_t) r->memory_mib,
                          "disk_size", (json_int_t) r->disk_size, "created", (json_int_t) r->created,
                          "machine_id", r->machine_id, "pid", (int) r->pid, "running_backend", r->running_backend);
    if (!o)
        return NULL;
    json_object_set_new(o, "started", json_integer(r->started));
    json_object_set_new(o, "finished", json_integer(r->finished));
    json_object_set_new(o, "exit_status", r->exit_status >= 0 ? json_integer(r->exit_status) : json_null());
    json_object_set(o, "args", r->args ? r->args : json_null());
    json_object_set_new(o, "kernel_version", json_string(r->kernel_version));
    json_object_set_new(o, "network", r->network[0] ? json_string(r->network) : json_null());
    json_object_set(o, "ports", r->ports ? r->ports : json_null());
    json_object_set_new(o, "balloon", json_boolean(r->balloon));
    /* What was asked for (--ip, --network-alias); "ip" below is the address it has while it runs,
     * else the one it will get. */
    json_object_set_new(o, "static_ip", r->ip[0] ? json_string(r->ip) : json_null());
    json_object_set_new(o, "aliases", r->aliases ? json_deep_copy(r->aliases) : json_array());
    _cleanup_free_ char *dir = vm_dir(r->id);
    if (dir)
        json_object_set_new(o, "dir", json_string(dir));
    _cleanup_free_ char *run = vm_run_dir(r->id);
    _cleanup_free_ char *np = run ? fs_path_join(run, "network.json") : NULL;
    json_t *net = NULL;
    if (np && json_load_path(np, 4096, &net, NULL) == 0) {
        json_object_set(o, "ip", json_object_get(net, "ip"));
        json_decref(net);
    } else {
        json_object_set_new(o, "ip", r->ip[0] ? json_string(r->ip) : json_null());
    }
    return o;
}
