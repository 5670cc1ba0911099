#include "vmm/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "vmm/console.h"
#include "vmm/devices/virtio/virtio-devices.h"
#include "vmm/devices/virtio/virtio-mmio.h"
#include "vmm/machine.h"

#define CONTROL_MAX_CLIENTS 8
#define CONTROL_MAX_REQUEST 65536

enum watch_kind {
    W_SIGNAL,
    W_EXIT,
    W_CONSOLE_IN,
    W_CONSOLE_LISTEN,
    W_CONSOLE_OUT, /* the console hub's pipe */
    W_CONTROL_LISTEN,
    W_CONTROL_CLIENT,
    W_TIMER,
    W_QUEUE_NOTIFY, /* ioeventfd of a virtqueue */
    W_DEVICE,       /* a virtio device's backend epoll set */
};

struct watch {
    enum watch_kind kind;
    int fd;
    char *buf;
    size_t len;
    struct vmm_mmio_device *dev;
    unsigned queue;
};

#define DEVICE_WATCHES (VMM_MAX_MMIO_DEVICES * 9)

struct runner {
    int epfd;
    struct vmm_config *cfg;
    const struct vmm_run_options *opts;
    struct vmm_machine *m;
    struct vmm_console console;
    struct watch sig, exitw, con_in, con_listen, con_out, ctl_listen, timer;
    /* Input the UART's 64-byte FIFO could not take yet (virtio-console got it at once). */
    uint8_t uart_pend[4096];
    size_t uart_pend_len;
    uint64_t uart_progress_ms; /* when the UART last took input (CLOCK_MONOTONIC) */
    struct watch clients[CONTROL_MAX_CLIENTS];
    struct watch devices[DEVICE_WATCHES];
    unsigned n_devices;
    char *api_path;
    bool done, term_pressed;
    int status;
};

static void report(struct runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(struct runner *r, const char *fmt, ...)
{
    if (!r->opts->report)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    r->opts->report(line);
}

static int watch_add(struct runner *r, struct watch *w, enum watch_kind kind, int fd)
{
    w->kind = kind;
    w->fd = fd;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
    return epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void watch_del(struct runner *r, struct watch *w, bool close_fd)
{
    if (w->fd < 0)
        return;
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    if (close_fd)
        close(w->fd);
    w->fd = -1;
    free(w->buf);
    w->buf = NULL;
    w->len = 0;
}

static const char *runner_state(struct runner *r)
{
    if (r->m)
        return vmm_state_name(r->m->state);
    return r->cfg->kernel ? "configured" : "not-configured";
}

/* Builds, boots and starts the machine from r->cfg. */
static int runner_start(struct runner *r, struct berth_error *err)
{
    if (r->m)
        return berth_error_set(err, -EBUSY, "cannot start: the VM is %s", vmm_state_name(r->m->state));
    struct vmm_machine *m = NULL;
    int ret = vmm_machine_create(r->cfg, vmm_console_guest_fd(&r->console), &m, err);
    int gfd = vmm_console_guest_fd(&r->console);
    if (ret >= 0 && r->console.vc_in_r >= 0 && gfd >= 0) {
        /* virtio-console shares the UART's output and gets its own copy of the input. */
        m->vcon_in_fd = fcntl(r->console.vc_in_r, F_DUPFD_CLOEXEC, 3);
        m->vcon_out_fd = fcntl(gfd, F_DUPFD_CLOEXEC, 3);
        if (m->vcon_in_fd < 0 || m->vcon_out_fd < 0)
            ret = berth_error_errno(err, -errno, "console: dup");
    }
    if (ret >= 0)
        ret = vmm_machine_attach_devices(m, err);
    if (ret >= 0)
        ret = vmm_machine_boot(m, err);
    if (ret >= 0 && r->opts->jail) {
        ret = vmm_jail_enter(r->opts->jail, err);
        if (ret >= 0)
            ret = vmm_seccomp_apply(VMM_THREAD_LOOP, err);
        m->seccomp = true;
    }
    if (ret >= 0)
        ret = vmm_machine_start(m, err);
    if (ret < 0) {
        vmm_machine_free(m);
        return ret;
    }
    r->m = m;
    ret = watch_add(r, &r->exitw, W_EXIT, m->exit_fd);
    if (ret < 0)
        return berth_error_errno(err, ret, "epoll");
    for (unsigned i = 0; i < m->n_mmio; i++) {
        struct vmm_mmio_device *d = &m->mmio[i];
        for (unsigned q = 0; q < d->n_notify && r->n_devices < DEVICE_WATCHES; q++) {
            struct watch *w = &r->devices[r->n_devices++];
            w->dev = d;
            w->queue = q;
            if ((ret = watch_add(r, w, W_QUEUE_NOTIFY, d->notify_fd[q])) < 0)
                return berth_error_errno(err, ret, "epoll");
        }
        int efd = virtio_mmio_event_fd(d->virtio);
        if (efd >= 0 && r->n_devices < DEVICE_WATCHES) {
            struct watch *w = &r->devices[r->n_devices++];
            w->dev = d;
            if ((ret = watch_add(r, w, W_DEVICE, efd)) < 0)
                return berth_error_errno(err, ret, "epoll");
        }
    }
    return 0;
}

static void runner_stop(struct runner *r, int status, const char *why)
{
    if (r->m) {
        vmm_machine_request_exit(r->m, VMM_EXIT_STOPPED, status, why);
    } else {
        report(r, "%s", why);
        r->status = status;
        r->done = true;
    }
}

static json_t *control_error(const char *msg)
{
    return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
}

static json_t *balloon_json(struct virtio_dev *dev)
{
    struct virtio_balloon_info info;
    if (virtio_balloon_info(dev, &info) < 0)
        return json_null();
    /* Pages are 4 KiB: 256 to the MiB. */
    json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I}", "target_mib", (json_int_t) (info.target_pages / 256), "actual_mib",
                          (json_int_t) (info.actual_pages / 256), "target_pages", (json_int_t) info.target_pages,
                          "actual_pages", (json_int_t) info.actual_pages, "inflated_pages",
                          (json_int_t) info.inflated_pages);
    static const char *const names[] = { "swap_in", "swap_out", "major_faults", "minor_faults", "free_memory",
                                          "total_memory", "available_memory", "disk_caches" };
    json_t *st = json_object();
    for (size_t i = 0; info.stats_valid && i < ARRAY_SIZE(names); i++)
        if (info.stats[i] != UINT64_MAX)
            json_object_set_new(st, names[i], json_integer((json_int_t) info.stats[i]));
    json_object_set_new(o, "stats", st);
    return o;
}

/* {"action":"balloon","target_mib":N}: how much of the guest's memory the balloon should hold. */
static json_t *control_balloon(struct runner *r, json_t *req)
{
    char msg[256];
    if (!r->m || (r->m->state != VMM_STATE_RUNNING && r->m->state != VMM_STATE_PAUSED)) {
        snprintf(msg, sizeof(msg), "cannot balloon: the VM is %s", runner_state(r));
        return control_error(msg);
    }
    if (!r->m->balloon)
        return control_error("balloon: the VM has no balloon device (start berth-vmm with --balloon)");
    json_t *t = json_object_get(req, "target_mib");
    unsigned long long max = (unsigned long long) r->cfg->memory_mib;
    if (!t || !json_is_integer(t) || json_integer_value(t) < 0 || (unsigned long long) json_integer_value(t) > max) {
        snprintf(msg, sizeof(msg), "balloon: \"target_mib\" must be an integer from 0 to %llu (the VM's memory)", max);
        return control_error(msg);
    }
    virtio_balloon_set_target(r->m->balloon, (uint32_t) (json_integer_value(t) * 256));
    json_t *o = json_pack("{s:b,s:s}", "ok", 1, "state", runner_state(r));
    json_object_set_new(o, "balloon", balloon_json(r->m->balloon));
    return o;
}

static json_t *control_handle(struct runner *r, json_t *req)
{
    struct berth_error err = { 0 };
    const char *action = NULL;
    if (!json_is_object(req) || json_opt_string(req, "action", "request", &action, &err) < 0 || !action)
        return control_error("request: needs {\"action\": string}");
    if (!strcmp(action, "status")) {
        json_t *o = json_pack("{s:b,s:s}", "ok", 1, "state", runner_state(r));
        json_object_set_new(o, "config", vmm_config_to_json(r->cfg));
        if (r->m && r->m->boot.protocol != BOOT_PROTO_NONE)
            json_object_set_new(o, "boot_protocol", json_string(boot_protocol_name(r->m->boot.protocol)));
        return o;
    }
    if (!strcmp(action, "configure")) {
        if (r->m) {
            char msg[128];
            snprintf(msg, sizeof(msg), "cannot configure: the VM is %s", vmm_state_name(r->m->state));
            return control_error(msg);
        }
        json_t *c = json_object_get(req, "config");
        if (!c)
            return control_error("configure: needs a \"config\" object");
        struct vmm_config next;
        vmm_config_init(&next);
        /* Start from the current configuration so configure can be called in steps. */
        _cleanup_json_ json_t *cur = vmm_config_to_json(r->cfg);
        int ret = vmm_config_from_json(cur, "current config", &next, &err);
        if (ret >= 0 && r->cfg->console_path) {
            next.console = r->cfg->console;
            next.console_path = strdup(r->cfg->console_path);
        } else if (ret >= 0) {
            next.console = r->cfg->console;
        }
        if (ret >= 0) {
            /* Drop the current lists so the request's replace them. */
            if (json_object_get(c, "disks")) {
                for (unsigned i = 0; i < next.n_disks; i++)
                    free(next.disks[i].path);
                next.n_disks = 0;
            }
            if (json_object_get(c, "nets")) {
                for (unsigned i = 0; i < next.n_nets; i++)
                    free(next.nets[i]);
                next.n_nets = 0;
            }
            if (json_object_get(c, "console") || json_object_get(c, "console_log"))
                ret = berth_error_set(&err, -EINVAL, "configure: the console is chosen on the command line");
            if (ret >= 0 && r->cfg->console_log && !(next.console_log = strdup(r->cfg->console_log)))
                ret = -ENOMEM;
        }
        if (ret >= 0)
            ret = vmm_config_from_json(c, "config", &next, &err);
        if (ret >= 0)
            ret = vmm_config_validate(&next, &err);
        if (ret < 0) {
            vmm_config_clear(&next);
            return control_error(berth_error_message(&err));
        }
        vmm_config_clear(r->cfg);
        *r->cfg = next;
        return json_pack("{s:b,s:s}", "ok", 1, "state", runner_state(r));
    }
    if (!strcmp(action, "start")) {
        if (!r->m && !r->cfg->kernel)
            return control_error("cannot start: the VM is not configured (no kernel)");
        if (runner_start(r, &err) < 0)
            return control_error(berth_error_message(&err));
        return json_pack("{s:b,s:s}", "ok", 1, "state", runner_state(r));
    }
    if (!strcmp(action, "pause") || !strcmp(action, "resume")) {
        if (!r->m) {
            char msg[128];
            snprintf(msg, sizeof(msg), "cannot %s: the VM is %s", action, runner_state(r));
            return control_error(msg);
        }
        int ret = !strcmp(action, "pause") ? vmm_machine_pause(r->m, &err) : vmm_machine_resume(r->m, &err);
        if (ret < 0)
            return control_error(berth_error_message(&err));
        return json_pack("{s:b,s:s}", "ok", 1, "state", runner_state(r));
    }
    if (!strcmp(action, "stop")) {
        if (r->m && r->m->state == VMM_STATE_STOPPED)
            return control_error("cannot stop: the VM is stopped");
        runner_stop(r, VMM_STATUS_OK, "stopped by the control socket");
        return json_pack("{s:b,s:s}", "ok", 1, "state", "stopping");
    }
    if (!strcmp(action, "metrics")) {
        if (!r->m) {
            char msg[128];
            snprintf(msg, sizeof(msg), "no metrics: the VM is %s", runner_state(r));
            return control_error(msg);
        }
        json_t *o = json_pack("{s:b,s:s}", "ok", 1, "state", runner_state(r));
        json_t *mj = vmm_machine_metrics(r->m);
        if (mj && r->m->balloon)
            json_object_set_new(mj, "balloon", balloon_json(r->m->balloon));
        json_object_set_new(o, "metrics", mj);
        return o;
    }
    if (!strcmp(action, "balloon"))
        return control_balloon(r, req);
    char msg[256];
    snprintf(msg, sizeof(msg),
             "unknown action '%.64s' (expected configure, start, pause, resume, stop, status, metrics, balloon)",
             action);
    return control_error(msg);
}

static void control_reply(int fd, json_t *resp)
{
    char *s = json_dumps(resp, JSON_COMPACT);
    if (s) {
        size_t n = strlen(s);
        s[n] = '\n';
        /* Replies are small; a client that does not read them loses them. */
        (void) send(fd, s, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        free(s);
    }
}

static void control_client_input(struct runner *r, struct watch *w)
{
    if (!w->buf) {
        w->buf = malloc(CONTROL_MAX_REQUEST);
        if (!w->buf) {
            watch_del(r, w, true);
            return;
        }
    }
    ssize_t n = recv(w->fd, w->buf + w->len, CONTROL_MAX_REQUEST - w->len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        watch_del(r, w, true);
        return;
    }
    w->len += (size_t) n;
    char *nl;
    while (w->fd >= 0 && (nl = memchr(w->buf, '\n', w->len))) {
        size_t line = (size_t) (nl - w->buf);
        struct berth_error err = { 0 };
        json_t *req = NULL;
        json_t *resp;
        if (json_load_buffer(w->buf, line, "request", &req, &err) < 0)
            resp = control_error(berth_error_message(&err));
        else
            resp = control_handle(r, req);
        json_decref(req);
        control_reply(w->fd, resp);
        json_decref(resp);
        memmove(w->buf, nl + 1, w->len - line - 1);
        w->len -= line + 1;
    }
    if (w->fd >= 0 && w->len == CONTROL_MAX_REQUEST) {
        _cleanup_json_ json_t *resp = control_error("request: longer than 64 KiB");
        control_reply(w->fd, resp);
        watch_del(r, w, true);
    }
}

/* Gives the UART what its FIFO can take of the pending input. */
static void uart_flush(struct runner *r)
{
    if (!r->m || !r->uart_pend_len)
        return;
    size_t n = serial_push_input(&r->m->serial, r->uart_pend, r->uart_pend_len);
    memmove(r->uart_pend, r->uart_pend + n, r->uart_pend_len - n);
    r->uart_pend_len -= n;
    /* A guest that never reads its UART (only hvc0 in use, no getty on ttyS0) would keep the
     * loop polling every 5 ms: after ~1 s without progress, the UART's share is dropped. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
    if (n || !r->uart_progress_ms)
        r->uart_progress_ms = now;
    else if (now - r->uart_progress_ms > 1000)
        r->uart_pend_len = 0;
    if (!r->uart_pend_len)
        r->uart_progress_ms = 0;
}

static void on_console_input(struct runner *r)
{
    uint8_t buf[4096];
    ssize_t n = read(r->con_in.fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* The client hung up, or stdin ended: the guest keeps running. */
        watch_del(r, &r->con_in, false);
        if (r->console.kind == VMM_CONSOLE_SOCKET)
            vmm_console_drop_client(&r->console);
        return;
    }
    n = vmm_console_filter_input(&r->console, buf, (size_t) n);
    if (n < 0) {
        runner_stop(r, VMM_STATUS_OK, "stopped from the console (Ctrl-A x)");
        return;
    }
    if (!r->m || n == 0)
        return; /* nothing to feed yet */
    /* virtio-console: whatever its pipe takes (a guest that never reads it loses input). */
    if (r->console.vc_in_w >= 0)
        (void) !write(r->console.vc_in_w, buf, (size_t) n);
    /* The UART: queued, oldest bytes dropped past 4 KiB (a guest that never reads it). */
    size_t keep = (size_t) n;
    if (keep > sizeof(r->uart_pend))
        keep = sizeof(r->uart_pend);
    size_t room = sizeof(r->uart_pend) - r->uart_pend_len;
    if (keep > room) {
        size_t drop = keep - room;
        memmove(r->uart_pend, r->uart_pend + drop, r->uart_pend_len - drop);
        r->uart_pend_len -= drop;
    }
    memcpy(r->uart_pend + r->uart_pend_len, buf + ((size_t) n - keep), keep);
    r->uart_pend_len += keep;
    uart_flush(r);
}

static void on_console_listen(struct runner *r)
{
    int fd = vmm_console_accept(&r->console);
    if (fd < 0)
        return;
    /* One client at a time: the newest wins (the previous one was closed by the accept). */
    watch_del(r, &r->con_in, false);
    if (watch_add(r, &r->con_in, W_CONSOLE_IN, fd) < 0) {
        vmm_console_drop_client(&r->console);
        r->con_in.fd = -1;
    }
}

static void on_signal(struct runner *r)
{
    struct signalfd_siginfo si;
    if (read(r->sig.fd, &si, sizeof(si)) != sizeof(si))
        return;
    int sig = (int) si.ssi_signo;
    if (sig == SIGTERM && r->m && r->m->state == VMM_STATE_RUNNING && !r->term_pressed) {
        r->term_pressed = true;
        if (vmm_machine_power_button(r->m)) {
            report(r, "SIGTERM: pressed the ACPI power button; the guest has %u ms to power off",
                   r->opts->term_grace_ms);
            struct itimerspec its = { .it_value = { r->opts->term_grace_ms / 1000,
                                                    (long) (r->opts->term_grace_ms % 1000) * 1000000 } };
            timerfd_settime(r->timer.fd, 0, &its, NULL);
            return;
        }
        runner_stop(r, 128 + sig, "stopped by SIGTERM (the guest does not listen to the ACPI power button)");
        return;
    }
    runner_stop(r, 128 + sig, sig == SIGTERM ? "stopped by SIGTERM" : "stopped by SIGINT");
}

static void on_timer(struct runner *r)
{
    uint64_t n;
    if (read(r->timer.fd, &n, sizeof(n)) < 0)
        return;
    runner_stop(r, 128 + SIGTERM, "stopped: the guest did not power off after the ACPI power button");
}

static void runner_drop_machine(struct runner *r)
{
    for (unsigned i = 0; i < r->n_devices; i++)
        watch_del(r, &r->devices[i], false);
    r->n_devices = 0;
    watch_del(r, &r->exitw, false);
    vmm_machine_free(r->m);
    r->m = NULL;
    r->term_pressed = false;
}

static void on_exit_event(struct runner *r)
{
    uint64_t n;
    if (read(r->exitw.fd, &n, sizeof(n)) < 0 && errno == EAGAIN)
        return;
    vmm_machine_finish(r->m);
    r->status = r->m->exit_status;
    report(r, "%s: %s", vmm_exit_reason_name(r->m->exit_reason), r->m->exit_message);
    if (r->m->exit_reason == VMM_EXIT_REBOOT && r->opts->reboot_restarts && !r->opts->jail) {
        /* A fresh machine from the same configuration: nothing of the old one survives. */
        runner_drop_machine(r);
        struct berth_error err = { 0 };
        if (runner_start(r, &err) == 0) {
            report(r, "restarted after the guest's reboot");
            return;
        }
        report(r, "restart after reboot failed: %s", berth_error_message(&err));
        r->status = VMM_STATUS_MONITOR;
    }
    r->done = true;
}

static void on_control_listen(struct runner *r)
{
    int fd = accept4(r->ctl_listen.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        if (r->clients[i].fd < 0) {
            if (watch_add(r, &r->clients[i], W_CONTROL_CLIENT, fd) < 0)
                break;
            return;
        }
    }
    _cleanup_json_ json_t *resp = control_error("too many control connections");
    control_reply(fd, resp);
    close(fd);
}

static void runner_cleanup(struct runner *r)
{
    for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
        watch_del(r, &r->clients[i], true);
    watch_del(r, &r->con_in, false);
    if (r->console.hub_r >= 0)
        vmm_console_drain(&r->console); /* the guest's last words */
    watch_del(r, &r->con_out, false);
    watch_del(r, &r->ctl_listen, true);
    watch_del(r, &r->sig, true);
    watch_del(r, &r->timer, true);
    if (r->m)
        watch_del(r, &r->exitw, false);
    /* The fds belong to the machine's devices: only leave the epoll set. */
    for (unsigned i = 0; i < r->n_devices; i++)
        watch_del(r, &r->devices[i], false);
    if (r->api_path) {
        unlink(r->api_path);
        free(r->api_path);
    }
    vmm_machine_free(r->m);
    r->m = NULL;
    if (r->console.hub_r >= 0)
        vmm_console_drain(&r->console);
    vmm_console_close(&r->console);
    if (r->epfd >= 0)
        close(r->epfd);
}

int vmm_run(struct vmm_config *cfg, const struct vmm_run_options *opts, int *ret_status, struct berth_error *err)
{
    struct runner r = { .epfd = -1, .cfg = cfg, .opts = opts };
    r.sig.fd = r.exitw.fd = r.con_in.fd = r.con_listen.fd = r.con_out.fd = r.ctl_listen.fd = r.timer.fd = -1;
    for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
        r.clients[i].fd = -1;
    int ret;

    if (cfg->kernel && (ret = vmm_config_validate(cfg, err)) < 0)
        return ret;
    r.console = (struct vmm_console){ .out_fd = -1, .in_fd = -1, .listen_fd = -1, .client_fd = -1, .log_fd = -1,
                                      .hub_r = -1, .hub_w = -1, .vc_in_r = -1, .vc_in_w = -1 };
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    sigdelset(&mask, SIGPIPE);

    r.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (r.epfd < 0) {
        ret = berth_error_errno(err, -errno, "epoll_create1");
        goto out;
    }
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0 || watch_add(&r, &r.sig, W_SIGNAL, sfd) < 0) {
        ret = berth_error_errno(err, -errno, "signalfd");
        if (sfd >= 0)
            close(sfd);
        goto out;
    }
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (tfd < 0 || watch_add(&r, &r.timer, W_TIMER, tfd) < 0) {
        ret = berth_error_errno(err, -errno, "timerfd");
        if (tfd >= 0)
            close(tfd);
        goto out;
    }
    ret = vmm_console_open(&r.console, cfg, err);
    if (ret < 0)
        goto out;
    if (r.console.in_fd >= 0 && watch_add(&r, &r.con_in, W_CONSOLE_IN, r.console.in_fd) < 0)
        r.con_in.fd = -1; /* stdin that cannot be polled (/dev/null, a file): no input */
    if (r.console.hub_r >= 0 && watch_add(&r, &r.con_out, W_CONSOLE_OUT, r.console.hub_r) < 0) {
        ret = berth_error_errno(err, -errno, "epoll");
        goto out;
    }
    if (r.console.listen_fd >= 0 && watch_add(&r, &r.con_listen, W_CONSOLE_LISTEN, r.console.listen_fd) < 0) {
        ret = berth_error_errno(err, -errno, "epoll");
        goto out;
    }
    if (opts->api_sock) {
        int fd = vmm_unix_listen(opts->api_sock, err);
        if (fd < 0) {
            ret = fd;
            goto out;
        }
        r.api_path = strdup(opts->api_sock);
        if (!r.api_path || watch_add(&r, &r.ctl_listen, W_CONTROL_LISTEN, fd) < 0) {
            close(fd);
            ret = -ENOMEM;
            goto out;
        }
    }
    if (cfg->kernel) {
        ret = runner_start(&r, err);
        if (ret < 0)
            goto out;
    } else if (!opts->api_sock) {
        ret = berth_error_set(err, -EINVAL, "no kernel given (--kernel FILE, --config FILE or --api-sock PATH)");
        goto out;
    }

    while (!r.done) {
        struct epoll_event evs[16];
        /* Input waiting for the UART: look again soon, the guest drains its FIFO by itself. */
        int n = epoll_wait(r.epfd, evs, 16, r.uart_pend_len ? 5 : -1);
        uart_flush(&r);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = berth_error_errno(err, -errno, "epoll_wait");
            goto out;
        }
        for (int i = 0; i < n && !r.done; i++) {
            struct watch *w = evs[i].data.ptr;
            if (w->fd < 0)
                continue;
            switch (w->kind) {
            case W_SIGNAL:
                on_signal(&r);
                break;
            case W_EXIT:
                on_exit_event(&r);
                break;
            case W_CONSOLE_IN:
                on_console_input(&r);
                break;
            case W_CONSOLE_LISTEN:
                on_console_listen(&r);
                break;
            case W_CONSOLE_OUT:
                vmm_console_drain(&r.console);
                break;
            case W_CONTROL_LISTEN:
                on_control_listen(&r);
                break;
            case W_CONTROL_CLIENT:
                control_client_input(&r, w);
                break;
            case W_TIMER:
                on_timer(&r);
                break;
            case W_QUEUE_NOTIFY: {
                uint64_t v;
                if (read(w->fd, &v, sizeof(v)) == sizeof(v))
                    virtio_mmio_queue_notify(w->dev->virtio, w->queue);
                break;
            }
            case W_DEVICE:
                virtio_mmio_handle_events(w->dev->virtio);
                break;
            }
        }
    }
    *ret_status = r.status;
    ret = 0;
out:
    runner_cleanup(&r);
    return ret;
}
