#include "vm/balloon.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"

#define CONTROL_TIMEOUT_MS 5000
#define CONTROL_REPLY_MAX (64 * 1024)

/* What each request needs: a running VM created with a balloon (either backend). */
static int check_balloon(const struct vm_record *rec, struct berth_error *err)
{
    if (!rec->balloon)
        return berth_error_set(err, -ENODEV, "VM %s has no balloon device: create it with "
                                             "'berth vm create --balloon'", rec->name);
    if (strcmp(rec->state, "running"))
        return berth_error_set(err, -EINVAL, "VM %s is not running (start it first)", rec->name);
    return 0;
}

static int control_connect(const struct vm_record *rec, int *ret_fd, struct berth_error *err)
{
    _cleanup_free_ char *run = vm_run_dir(rec->id);
    _cleanup_free_ char *path = run ? fs_path_join(run, "control") : NULL;
    if (!path)
        return berth_error_set(err, -ENOMEM, "out of memory");
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path))
        return berth_error_set(err, -ENAMETOOLONG, "VM %s: control socket path %s is too long", rec->name, path);
    strcpy(addr.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return berth_error_errno(err, -errno, "socket");
    if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
        return berth_error_errno(err, -errno, "VM %s: its monitor's control socket %s", rec->name, path);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static int send_json_line(const struct vm_record *rec, int fd, json_t *req, struct berth_error *err)
{
    _cleanup_free_ char *line = json_dumps(req, JSON_COMPACT);
    if (!line)
        return berth_error_set(err, -ENOMEM, "out of memory");
    size_t len = strlen(line);
    line[len] = '\n'; /* json_dumps' NUL becomes the line's end: the buffer has room for it */
    for (size_t off = 0; off <= len;) {
        ssize_t w = send(fd, line + off, len + 1 - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return berth_error_errno(err, -errno, "VM %s: writing to its monitor", rec->name);
        off += (size_t) w;
    }
    return 0;
}

/* Answers come one JSON object a line; what follows the first line stays for the next call. */
struct reply_reader {
    int fd;
    char buf[CONTROL_REPLY_MAX + 1];
    size_t n;
};

static int read_json_line(const struct vm_record *rec, struct reply_reader *rd, json_t **ret, struct berth_error *err)
{
    char *nl;
    while (!(nl = memchr(rd->buf, '\n', rd->n))) {
        struct pollfd p = { rd->fd, POLLIN, 0 };
        int q = poll(&p, 1, CONTROL_TIMEOUT_MS);
        if (q < 0 && errno == EINTR)
            continue;
        if (q <= 0)
            return berth_error_set(err, -ETIMEDOUT, "VM %s: its monitor did not answer within %d s", rec->name,
                                   CONTROL_TIMEOUT_MS / 1000);
        if (rd->n == CONTROL_REPLY_MAX)
            return berth_error_set(err, -EMSGSIZE, "VM %s: its monitor's answer is over %d bytes", rec->name,
                                   CONTROL_REPLY_MAX);
        ssize_t k = read(rd->fd, rd->buf + rd->n, CONTROL_REPLY_MAX - rd->n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return berth_error_errno(err, -errno, "VM %s: reading its monitor's answer", rec->name);
        if (k == 0)
            return berth_error_set(err, -EIO, "VM %s: its monitor closed the control socket without answering",
                                   rec->name);
        rd->n += (size_t) k;
    }
    *nl = '\0';
    json_error_t jerr;
    json_t *obj = json_loads(rd->buf, 0, &jerr);
    size_t used = (size_t) (nl + 1 - rd->buf);
    memmove(rd->buf, nl + 1, rd->n - used);
    rd->n -= used;
    if (!json_is_object(obj)) {
        json_decref(obj);
        return berth_error_set(err, -EBADMSG, "VM %s: its monitor's answer is not a JSON object: %s", rec->name,
                               jerr.text);
    }
    *ret = obj;
    return 0;
}

/* One request on berth-vmm's API socket (one JSON line each way, one connection per request):
 * *ret the answer when it is {"ok": true, ...}; the monitor's error otherwise. */
static int vmm_request(const struct vm_record *rec, json_t *req, json_t **ret, struct berth_error *err)
{
    _cleanup_close_ int fd = -1;
    int r = control_connect(rec, &fd, err);
    if (r == 0)
        r = send_json_line(rec, fd, req, err);
    if (r < 0)
        return r;
    _cleanup_free_ struct reply_reader *rd = calloc(1, sizeof(*rd));
    if (!rd)
        return berth_error_set(err, -ENOMEM, "out of memory");
    rd->fd = fd;
    _cleanup_json_ json_t *ans = NULL;
    if ((r = read_json_line(rec, rd, &ans, err)) < 0)
        return r;
    if (!json_is_true(json_object_get(ans, "ok"))) {
        const char *e = json_string_value(json_object_get(ans, "error"));
        return berth_error_set(err, -EIO, "VM %s: berth-vmm: %s", rec->name, e ? e : "request refused");
    }
    *ret = TAKE_PTR(ans);
    return 0;
}

/* QEMU's QMP on the same socket path: a greeting, qmp_capabilities, then commands; asynchronous
 * events may come between a command and its answer. *ret: the command's "return". */
static int qmp_command(const struct vm_record *rec, struct reply_reader *rd, const char *execute, json_t *args,
                       json_t **ret, struct berth_error *err)
{
    _cleanup_json_ json_t *req = json_pack("{s:s}", "execute", execute);
    if (!req)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (args)
        json_object_set(req, "arguments", args);
    int r = send_json_line(rec, rd->fd, req, err);
    while (r == 0) {
        _cleanup_json_ json_t *ans = NULL;
        if ((r = read_json_line(rec, rd, &ans, err)) < 0)
            break;
        json_t *e = json_object_get(ans, "error");
        if (e) {
            const char *desc = json_string_value(json_object_get(e, "desc"));
            return berth_error_set(err, -EIO, "VM %s: qemu %s: %s", rec->name, execute, desc ? desc : "failed");
        }
        json_t *v = json_object_get(ans, "return");
        if (v) {
            if (ret)
                *ret = json_incref(v);
            return 0;
        }
    }
    return r;
}

static int qmp_open(const struct vm_record *rec, struct reply_reader **ret, struct berth_error *err)
{
    _cleanup_free_ struct reply_reader *rd = calloc(1, sizeof(*rd));
    if (!rd)
        return berth_error_set(err, -ENOMEM, "out of memory");
    rd->fd = -1;
    int r = control_connect(rec, &rd->fd, err);
    _cleanup_json_ json_t *greeting = NULL;
    if (r == 0)
        r = read_json_line(rec, rd, &greeting, err);
    if (r == 0 && !json_object_get(greeting, "QMP"))
        r = berth_error_set(err, -EBADMSG, "VM %s: its control socket does not speak QMP", rec->name);
    if (r == 0)
        r = qmp_command(rec, rd, "qmp_capabilities", NULL, NULL, err);
    if (r < 0) {
        if (rd->fd >= 0)
            close(rd->fd);
        return r;
    }
    *ret = TAKE_PTR(rd);
    return 0;
}

static void qmp_close(struct reply_reader *rd)
{
    if (rd) {
        close(rd->fd);
        free(rd);
    }
}

/* The target last set, kept in the run directory: QEMU reports only the actual size. */
static char *qemu_target_path(const struct vm_record *rec)
{
    _cleanup_free_ char *run = vm_run_dir(rec->id);
    return run ? fs_path_join(run, "balloon-target") : NULL;
}

/* The balloon as QEMU sees it, in berth-vmm's terms: query-balloon's "actual" is the guest's
 * memory less what its balloon holds. */
static int qemu_balloon_get(const struct vm_record *rec, struct reply_reader *rd, json_t **ret,
                            struct berth_error *err)
{
    _cleanup_json_ json_t *q = NULL;
    int r = qmp_command(rec, rd, "query-balloon", NULL, &q, err);
    if (r < 0)
        return r;
    uint64_t mem = rec->memory_mib, logical = (uint64_t) json_integer_value(json_object_get(q, "actual")) >> 20;
    uint64_t actual = logical < mem ? mem - logical : 0, target = 0;
    _cleanup_free_ char *path = qemu_target_path(rec);
    _cleanup_free_ char *text = NULL;
    if (path && fs_read_file(path, 64, &text, NULL, NULL) == 0)
        target = strtoull(text, NULL, 10);
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I}", "target_mib", (json_int_t) target, "actual_mib",
                          (json_int_t) actual, "target_pages", (json_int_t) (target * 256), "actual_pages",
                          (json_int_t) (actual * 256), "memory_mib", (json_int_t) mem);
    if (!o)
        return berth_error_set(err, -ENOMEM, "out of memory");
    *ret = o;
    return 0;
}

/* The "balloon" object of an answer, with the VM's memory beside it. */
static int balloon_of(const struct vm_record *rec, json_t *obj, json_t **ret, struct berth_error *err)
{
    json_t *b = json_object_get(obj, "balloon");
    if (!json_is_object(b))
        return berth_error_set(err, -ENODEV, "VM %s: its monitor has no balloon device (the VM was started "
                                             "before it had one: restart it)", rec->name);
    json_t *out = json_deep_copy(b);
    if (!out)
        return berth_error_set(err, -ENOMEM, "out of memory");
    json_object_set_new(out, "memory_mib", json_integer((json_int_t) rec->memory_mib));
    *ret = out;
    return 0;
}

int vm_balloon_get(const struct vm_record *rec, json_t **ret, struct berth_error *err)
{
    int r = check_balloon(rec, err);
    if (r < 0)
        return r;
    if (!strncmp(rec->running_backend, "qemu", 4)) {
        struct reply_reader *rd = NULL;
        if ((r = qmp_open(rec, &rd, err)) < 0)
            return r;
        r = qemu_balloon_get(rec, rd, ret, err);
        qmp_close(rd);
        return r;
    }
    _cleanup_json_ json_t *req = json_pack("{s:s}", "action", "metrics");
    _cleanup_json_ json_t *ans = NULL;
    if (!req)
        return berth_error_set(err, -ENOMEM, "out of memory");
    r = vmm_request(rec, req, &ans, err);
    if (r < 0)
        return r;
    return balloon_of(rec, json_object_get(ans, "metrics"), ret, err);
}

static int qemu_balloon_set(const struct vm_record *rec, uint64_t target_mib, json_t **ret, struct berth_error *err)
{
    /* QMP's balloon takes the guest's memory size to reach, and refuses 0. */
    if (target_mib >= rec->memory_mib)
        return berth_error_set(err, -EINVAL, "VM %s: on the qemu backend the balloon must leave the guest some memory "
                                             "(at most %llu MiB of its %llu MiB)", rec->name,
                               (unsigned long long) rec->memory_mib - 1, (unsigned long long) rec->memory_mib);
    struct reply_reader *rd = NULL;
    int r = qmp_open(rec, &rd, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *args = json_pack("{s:I}", "value", (json_int_t) ((rec->memory_mib - target_mib) << 20));
    r = args ? qmp_command(rec, rd, "balloon", args, NULL, err) : berth_error_set(err, -ENOMEM, "out of memory");
    if (r == 0) {
        char text[32];
        int n = snprintf(text, sizeof(text), "%llu\n", (unsigned long long) target_mib);
        _cleanup_free_ char *path = qemu_target_path(rec);
        if (path)
            fs_write_atomic(path, text, (size_t) n, 0644, NULL);
    }
    if (r == 0 && ret)
        r = qemu_balloon_get(rec, rd, ret, err);
    qmp_close(rd);
    return r;
}

int vm_balloon_set(const struct vm_record *rec, uint64_t target_mib, json_t **ret, struct berth_error *err)
{
    int r = check_balloon(rec, err);
    if (r < 0)
        return r;
    if (target_mib > rec->memory_mib)
        return berth_error_set(err, -EINVAL, "VM %s: a balloon of %llu MiB is more than the VM's memory (%llu MiB)",
                               rec->name, (unsigned long long) target_mib, (unsigned long long) rec->memory_mib);
    if (!strncmp(rec->running_backend, "qemu", 4))
        return qemu_balloon_set(rec, target_mib, ret, err);
    _cleanup_json_ json_t *req = json_pack("{s:s, s:I}", "action", "balloon", "target_mib", (json_int_t) target_mib);
    _cleanup_json_ json_t *ans = NULL;
    if (!req)
        return berth_error_set(err, -ENOMEM, "out of memory");
    r = vmm_request(rec, req, &ans, err);
    if (r < 0 || !ret)
        return r;
    return balloon_of(rec, ans, ret, err);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static json_int_t field(const json_t *b, const char *name)
{
    return json_integer_value(json_object_get(b, name));
}

int vm_balloon_wait(const struct vm_record *rec, unsigned timeout_ms, vm_balloon_progress_fn progress, void *userdata,
                    json_t **ret, struct berth_error *err)
{
    /* The timeout counts from the last change of the actual size, not from the start: a large
     * balloon that a slow guest keeps filling is followed, one that stopped moving is not. */
    json_int_t last_actual = -1;
    uint64_t since = now_ms();
    for (;;) {
        _cleanup_json_ json_t *b = NULL;
        int r = vm_balloon_get(rec, &b, err);
        if (r < 0)
            return r;
        if (progress)
            progress(b, userdata);
        json_int_t actual = field(b, "actual_pages"), target = field(b, "target_pages");
        if (actual == target) {
            if (ret)
                *ret = TAKE_PTR(b);
            return 0;
        }
        uint64_t now = now_ms();
        if (actual != last_actual) {
            last_actual = actual;
            since = now;
        } else if (now - since >= timeout_ms) {
            return berth_error_set(err, -ETIMEDOUT,
                                   "VM %s: balloon target %lld MiB, actual %lld MiB (%lld of %lld pages): the guest did "
                                   "not follow (no change for %u s)",
                                   rec->name, (long long) field(b, "target_mib"), (long long) field(b, "actual_mib"),
                                   (long long) actual, (long long) target, (timeout_ms + 999) / 1000);
        }
        poll(NULL, 0, 100);
    }
}
