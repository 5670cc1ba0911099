/* virtio console (spec 5.3) with a single port and no multiport control queue: queue 0 carries
 * input to the guest, queue 1 output from it. Input is read into a small buffer only when the fd
 * is readable and handed out as the guest posts buffers, so a guest that stops reading stalls
 * the input fd (it is unwatched) rather than losing bytes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "vmm/devices/virtio/virtio-dev.h"
#include "vmm/devices/virtio/virtio-devices.h"

#define CONSOLE_QUEUE_SIZE 64
#define CONSOLE_RXQ 0
#define CONSOLE_TXQ 1
#define VIRTIO_CONSOLE_F_SIZE 0
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2
#define CONSOLE_CONFIG_SIZE 12
/* How long a write to a full, non-blocking output may wait before bytes are dropped: a stuck
 * reader must not stall the vCPU forever. */
#define CONSOLE_OUT_TIMEOUT_MS 1000

enum { TAG_IN = 1 };

struct console {
    int in_fd, out_fd;
    bool in_watched, in_eof;
    uint8_t in_buf[4096];
    size_t in_len, in_off;
    uint8_t config[CONSOLE_CONFIG_SIZE];
    struct virtq_chain chain;
};

static void write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                if (poll(&pfd, 1, CONSOLE_OUT_TIMEOUT_MS) > 0)
                    continue;
            }
            return; /* output gone or stuck: the guest's bytes are dropped */
        }
        p += n;
        len -= (size_t) n;
    }
}

static void console_tx(struct virtio_dev *dev)
{
    struct console *con = dev->priv;
    struct virtq *q = &dev->queues[CONSOLE_TXQ];
    int r;
    while ((r = virtq_pop(q, dev->mem, &con->chain)) > 0) {
        for (uint32_t i = 0; i < con->chain.n_out; i++)
            if (con->out_fd >= 0)
                write_all(con->out_fd, con->chain.iov[i].iov_base, con->chain.iov[i].iov_len);
        virtq_push(q, con->chain.head, 0);
    }
    if (r < 0)
        virtio_dev_set_broken(dev);
    else
        virtio_dev_notify_used(dev, CONSOLE_TXQ);
}

static void set_in_watch(struct virtio_dev *dev, bool on)
{
    struct console *con = dev->priv;
    if (con->in_fd < 0 || con->in_eof || con->in_watched == on)
        return;
    if (virtio_dev_rewatch(dev, con->in_fd, on ? EPOLLIN : 0, TAG_IN) == 0)
        con->in_watched = on;
}

/* Hands buffered input to the guest; stops watching the input while the guest has no buffers. */
static void console_deliver(struct virtio_dev *dev)
{
    struct console *con = dev->priv;
    struct virtq *q = &dev->queues[CONSOLE_RXQ];
    bool pushed = false;
    while (con->in_off < con->in_len) {
        int r = virtq_pop(q, dev->mem, &con->chain);
        if (r < 0) {
            virtio_dev_set_broken(dev);
            return;
        }
        if (r == 0) {
            set_in_watch(dev, false);
            break;
        }
        size_t n = buf_to_iov(con->chain.iov + con->chain.n_out, con->chain.n_in, 0,
                              con->in_buf + con->in_off, con->in_len - con->in_off);
        con->in_off += n;
        virtq_push(q, con->chain.head, (uint32_t) n);
        pushed = true;
    }
    if (con->in_off == con->in_len) {
        con->in_off = con->in_len = 0;
        set_in_watch(dev, true);
    }
    if (pushed)
        virtio_dev_notify_used(dev, CONSOLE_RXQ);
}

static void console_handle_events(struct virtio_dev *dev)
{
    struct console *con = dev->priv;
    struct epoll_event ev[4];
    int n = epoll_wait(dev->epoll_fd, ev, ARRAY_SIZE(ev), 0);
    if (n <= 0 || !virtio_dev_live(dev))
        return;
    if (con->in_len == 0 && con->in_fd >= 0 && !con->in_eof) {
        /* One read per readiness: the fd may be a shared blocking terminal. */
        ssize_t r = read(con->in_fd, con->in_buf, sizeof(con->in_buf));
        if (r > 0) {
            con->in_len = (size_t) r;
            con->in_off = 0;
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            virtio_dev_unwatch(dev, con->in_fd);
            con->in_watched = false;
            con->in_eof = true;
        }
    }
    console_deliver(dev);
}

static void console_queue_notify(struct virtio_dev *dev, uint16_t q)
{
    if (q == CONSOLE_TXQ)
        console_tx(dev);
    else
        console_deliver(dev);
}

static int console_activate(struct virtio_dev *dev)
{
    set_in_watch(dev, true);
    return 0;
}

static void console_reset(struct virtio_dev *dev)
{
    struct console *con = dev->priv;
    set_in_watch(dev, false);
    con->in_len = con->in_off = 0;
}

static void console_config_write(struct virtio_dev *dev, uint32_t offset, const uint8_t *data, uint32_t len)
{
    struct console *con = dev->priv;
    /* emerg_wr (offset 8): one character written straight to the output, usable before the
     * queues exist (early panics). */
    if (offset == 8 && con->out_fd >= 0 && virtio_dev_has(dev, VIRTIO_CONSOLE_F_EMERG_WRITE))
        write_all(con->out_fd, data, 1);
}

static void console_free(struct virtio_dev *dev)
{
    struct console *con = dev->priv;
    if (!con)
        return;
    if (con->in_fd >= 0)
        close(con->in_fd);
    if (con->out_fd >= 0 && con->out_fd != con->in_fd)
        close(con->out_fd);
    free(con);
}

static const struct virtio_device_ops console_ops = {
    .name = "console",
    .device_id = VIRTIO_ID_CONSOLE,
    .activate = console_activate,
    .queue_notify = console_queue_notify,
    .handle_events = console_handle_events,
    .config_write = console_config_write,
    .reset = console_reset,
    .free = console_free,
};

int virtio_console_new(int in_fd, int out_fd, struct virtio_dev **ret, struct berth_error *err)
{
    struct virtio_dev *dev = calloc(1, sizeof(*dev));
    struct console *con = calloc(1, sizeof(*con));
    if (!dev || !con) {
        free(dev);
        free(con);
        if (in_fd >= 0)
            close(in_fd);
        if (out_fd >= 0 && out_fd != in_fd)
            close(out_fd);
        return berth_error_set(err, -ENOMEM, "virtio-console: out of memory");
    }
    con->in_fd = in_fd;
    con->out_fd = out_fd;
    int r = virtio_dev_init(dev, &console_ops, con, 2, CONSOLE_QUEUE_SIZE, VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE));
    if (r == 0)
        r = virtio_dev_events_init(dev);
    if (r == 0 && in_fd >= 0) {
        /* Registered disabled now, enabled when the driver is ready. Files and /dev/null cannot
         * be polled (EPERM): such an input never has anything for the guest. */
        r = virtio_dev_watch(dev, in_fd, 0, TAG_IN);
        if (r == -EPERM) {
            con->in_eof = true;
            r = 0;
        }
    }
    if (r < 0) {
        virtio_dev_free(dev);
        return berth_error_errno(err, r, "virtio-console");
    }
    put_le32(con->config + 4, 1); /* max_nr_ports, meaningful with MULTIPORT only */
    dev->config = con->config;
    dev->config_size = CONSOLE_CONFIG_SIZE;
    *ret = dev;
    return 0;
}
