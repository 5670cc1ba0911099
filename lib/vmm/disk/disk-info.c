/* `berth disk info`: one JSON object per file of the backing chain, walked file by file so that a
 * broken link (missing backing file, loop) is reported rather than fatal. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "vmm/disk/disk-tools.h"
#include "vmm/disk/disk.h"
#include "vmm/disk/qcow2-priv.h"

static int one_file(const char *path, const char *format, json_t **ret, char **ret_next, char **ret_next_fmt,
                    struct berth_error *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return berth_error_errno(err, -errno, "%s", path);
    if (!format) {
        int r = disk_probe(path, &format, err);
        if (r < 0)
            return r;
    }
    json_t *o = json_object();
    if (!o)
        return -ENOMEM;
    json_object_set_new(o, "filename", json_string(path));
    json_object_set_new(o, "format", json_string(format));
    json_object_set_new(o, "actual-size", json_integer((json_int_t) st.st_blocks * 512));
    *ret_next = *ret_next_fmt = NULL;
    if (strcmp(format, "qcow2")) {
        _cleanup_disk_ struct disk *d = NULL;
        int r = disk_open(path, format, true, &d, err);
        if (r < 0) {
            json_decref(o);
            return r;
        }
        json_object_set_new(o, "virtual-size", json_integer((json_int_t) d->size));
        *ret = o;
        return 0;
    }
    struct qcow2_open_opts opts = {.read_only = true, .no_backing = true};
    _cleanup_disk_ struct disk *d = NULL;
    int r = qcow2_open(path, &opts, &d, err);
    if (r < 0) {
        json_decref(o);
        return r;
    }
    struct qcow2_info info;
    qcow2_get_info(d, &info);
    json_object_set_new(o, "virtual-size", json_integer((json_int_t) info.size));
    json_object_set_new(o, "cluster-size", json_integer((json_int_t) info.cluster_size));
    json_object_set_new(o, "dirty-flag", json_boolean(info.incompatible & QCOW2_INCOMPAT_DIRTY));
    if (info.backing[0]) {
        _cleanup_free_ char *full = qcow2_backing_path(path, info.backing);
        json_object_set_new(o, "backing-filename", json_string(info.backing));
        json_object_set_new(o, "full-backing-filename", json_string(full ? full : info.backing));
        if (info.backing_format[0])
            json_object_set_new(o, "backing-filename-format", json_string(info.backing_format));
        *ret_next = full ? strdup(full) : NULL;
        *ret_next_fmt = info.backing_format[0] ? strdup(info.backing_format) : NULL;
    }
    json_t *data =
        json_pack("{s:s, s:b, s:i, s:b, s:b, s:i}", "compat", info.version == 3 ? "1.1" : "0.10", "lazy-refcounts",
                  (int) !!(info.compatible & QCOW2_COMPAT_LAZY_REFCOUNTS), "refcount-bits",
                  (json_int_t) info.refcount_bits, "corrupt", (int) !!(info.incompatible & QCOW2_INCOMPAT_CORRUPT),
                  "extended-l2", 0, "snapshots", (json_int_t) info.nb_snapshots);
    json_object_set_new(o, "format-specific", json_pack("{s:s, s:o}", "type", "qcow2", "data", data));
    *ret = o;
    return 0;
}

int disk_info_json(const char *path, const char *format, json_t **ret, struct berth_error *err)
{
    json_t *top = NULL;
    char *next = NULL, *next_fmt = NULL;
    int r = one_file(path, format, &top, &next, &next_fmt, err);
    if (r < 0)
        return r;
    json_t *chain = json_array();
    json_object_set_new(top, "backing-chain", chain);
    struct stat st;
    dev_t devs[QCOW2_MAX_BACKING_DEPTH + 2];
    ino_t inos[QCOW2_MAX_BACKING_DEPTH + 2];
    unsigned depth = 0;
    if (stat(path, &st) == 0) {
        devs[depth] = st.st_dev;
        inos[depth++] = st.st_ino;
    }
    while (next) {
        _cleanup_free_ char *cur = next, *cur_fmt = next_fmt;
        next = next_fmt = NULL;
        char msg[BERTH_ERROR_MAX] = "";
        if (stat(cur, &st) < 0) {
            snprintf(msg, sizeof(msg), "%s: %s", cur, strerror(errno));
        } else {
            for (unsigned i = 0; i < depth; i++)
                if (devs[i] == st.st_dev && inos[i] == st.st_ino)
                    snprintf(msg, sizeof(msg), "%s: backing-file loop", cur);
            if (depth > QCOW2_MAX_BACKING_DEPTH)
                snprintf(msg, sizeof(msg), "%s: backing chain deeper than %d files", cur, QCOW2_MAX_BACKING_DEPTH);
        }
        if (!msg[0]) {
            devs[depth] = st.st_dev;
            inos[depth++] = st.st_ino;
            json_t *o = NULL;
            struct berth_error e = {0};
            if (one_file(cur, cur_fmt, &o, &next, &next_fmt, &e) < 0)
                snprintf(msg, sizeof(msg), "%s", berth_error_message(&e));
            else
                json_array_append_new(chain, o);
        }
        if (msg[0]) {
            json_object_set_new(top, "backing-error", json_string(msg));
            break;
        }
    }
    *ret = top;
    return 0;
}
