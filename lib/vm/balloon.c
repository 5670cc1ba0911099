#include "vm/balloon.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"

#define CONTROL_TIMEOUT_MS 5000
#define CONTROL_REPLY_MAX (64 * 1024)

/* What each request needs: a running berth-vmm VM created with a balloon. */
static int check_balloon(const struct vm_record *rec, struct berth_error *err)
{
    if (!rec->balloon)
        return berth_error_set(err, -ENODEV, "VM %s has no balloon device: create it with "
                                             "'berth vm create --balloon' (berth-vmm backend)", rec->name);
    if (strcmp(rec->state, "running"))
        return berth_error_set(err, -EINVAL, "VM %s is not running (start it first)", rec->name);
    if (!strncmp(rec->running_backend, "qemu", 4))
        return berth_error_set(err, -EOPNOTSUPP, "VM %s runs on the qemu backend: the balloon is not supported there "
                                                 "(create the VM with --backend berth-vmm --balloon)", rec->name);
    return 0;
}

/* One request on berth-vmm's API socket (one JSON line each way, one connection per request):
 * *ret the answer when it is {"ok": true, ...}; the monitor's error otherwise. */
static int control_request(const struct vm_record *rec, json_t *req, json_t **ret, struct berth_error *err)
{
    _cleanup_free_ char *run = vm_run_dir(rec->id);
    _cleanup_free_ char *path = run ? fs_path_join(run, "control") : NULL;
    _cleanup_free_ char *line = json_dumps(req, JSON_COMPACT);
    if (!path || !line)
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
    _cleanup_free_ char *buf = malloc(CONTROL_REPLY_MAX + 1);
    if (!buf)
        return berth_error_set(err, -ENOMEM, "out of memory");
    size_t n = 0;
    while (!memchr(buf, '\n', n)) {
        struct pollfd p = { fd, POLLIN, 0 };
        int q = poll(&p, 1, CONTROL_TIMEOUT_MS);
        if (q < 0 && errno == EINTR)
            continue;
        if (q <= 0)
            return berth_error_set(err, -ETIMEDOUT, "VM %s: its monitor did not answer within %d s", rec->name,
                                   CONTROL_TIMEOUT_MS / 1000);
        if (n == CONTROL_REPLY_MAX)
            return berth_error_set(err, -EMSGSIZE, "VM %s: its monitor's answer is over %d bytes", rec->name,
                                   CONTROL_REPLY_MAX);
        ssize_t k = read(fd, buf + n, CONTROL_REPLY_MAX - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return berth_error_errno(err, -errno, "VM %s: reading its monitor's answer", rec->name);
        if (k == 0)
            return berth_error_set(err, -EIO, "VM %s: its monitor closed the control socket without answering",
                                   rec->name);
        n += (size_t) k;
    }
    buf[n] = '\0';
    json_error_t jerr;
    _cleanup_json_ json_t *ans = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!json_is_object(ans))
        return berth_error_set(err, -EBADMSG, "VM %s: its monitor's answer is not a JSON object: %s", rec->name,
                               jerr.text);
    if (!json_is_true(json_object_get(ans, "ok"))) {
        const char *e = json_string_value(json_object_get(ans, "error"));
        return berth_error_set(err, -EIO, "VM %s: berth-vmm: %s", rec->name, e ? e : "request refused");
    }
    *ret = TAKE_PTR(ans);
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
    _cleanup_json_ json_t *req = json_pack("{s:s}", "action", "metrics");
    _cleanup_json_ json_t *ans = NULL;
    if (!req)
        return berth_error_set(err, -ENOMEM, "out of memory");
    r = control_request(rec, req, &ans, err);
    if (r < 0)
        return r;
    return balloon_of(rec, json_object_get(ans, "metrics"), ret, err);
}

int vm_balloon_set(const struct vm_record *rec, uint64_t target_mib, json_t **ret, struct berth_error *err)
{
    int r = check_balloon(rec, err);
    if (r < 0)
        return r;
    if (target_mib > rec->memory_mib)
        return berth_error_set(err, -EINVAL, "VM %s: a balloon of %llu MiB is more than the VM's memory (%llu MiB)",
                               rec->name, (unsigned long long) target_mib, (unsigned long long) rec->memory_mib);
    _cleanup_json_ json_t *req = json_pack("{s:s, s:I}", "action", "balloon", "target_mib", (json_int_t) target_mib);
    _cleanup_json_ json_t *ans = NULL;
    if (!req)
        return berth_error_set(err, -ENOMEM, "out of memory");
    r = control_request(rec, req, &ans, err);
    if (r < 0 || !ret)
        return r;
    return balloon_of(rec, ans, ret, err);
}
