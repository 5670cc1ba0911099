/* virtio network device (spec 5.1) over a tap: queue 0 receives (tap to guest), queue 1
 * transmits (guest to tap). Frames on the tap carry a 12-byte virtio_net_hdr, the same header the
 * guest uses, so checksum/TSO metadata passes through untouched; what the guest can receive
 * offloaded is mapped to TUNSETOFFLOAD. Received frames go through one bounce buffer: a frame read
 * while the guest has no buffers waits there (and the tap is unwatched) until it posts some. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "vmm/devices/virtio/virtio-dev.h"
#include "vmm/devices/virtio/virtio-devices.h"
#include "vmm/devices/virtio/virtio-net.h"

#define NET_QUEUE_SIZE 256
#define NET_RXQ 0
#define NET_TXQ 1
/* Largest frame a tap hands us with TSO: 64 KiB of IP packet plus the Ethernet header. */
#define NET_MAX_FRAME (VIRTIO_NET_HDR_SIZE + 65536 + 14 + 4)
/* Frames moved per event before yielding to the event loop. */
#define NET_BATCH 64
#define NET_MAX_MRG 64

enum { TAG_TAP = 1 };

struct net {
    int fd;
    bool is_tap;
    bool fd_watched;
    uint8_t config[VIRTIO_NET_CONFIG_SIZE];
    size_t rx_len;         /* a frame waiting in rx_buf (0: none) */
    uint8_t rx_buf[NET_MAX_FRAME];
    struct virtq_chain chain;
    struct {
        uint16_t head;
        uint32_t len;
    } mrg[NET_MAX_MRG];
};

static void set_watch(struct virtio_dev *dev, bool on)
{
    struct net *net = dev->priv;
    if (net->fd_watched != on && virtio_dev_rewatch(dev, net->fd, on ? EPOLLIN : 0, TAG_TAP) == 0)
        net->fd_watched = on;
}

/* Copies the pending frame into as many rx chains as it needs (one without mergeable buffers)
 * and publishes them. Returns 1 when the frame is done with (delivered, or dropped because the
 * guest's buffers can never hold it), 0 when the guest lacks buffers, -EIO when the queue broke. */
static int rx_deliver_one(struct virtio_dev *dev)
{
    struct net *net = dev->priv;
    struct virtq *q = &dev->queues[NET_RXQ];
    bool mrg = virtio_dev_has(dev, VIRTIO_NET_F_MRG_RXBUF);
    struct iovec hdr_iov[16];
    size_t n_hdr_iov = 0;
    size_t off = 0;
    uint16_t n = 0;
    /* num_buffers (header bytes 10..11) is 1 unless the frame spans several chains. */
    put_le16(net->rx_buf + 10, 1);
    while (off < net->rx_len) {
        if (n == NET_MAX_MRG || (n > 0 && !mrg)) {
            virtq_unpop(q, n);
            return 1;
        }
        int r = virtq_pop(q, dev->mem, &net->chain);
        if (r <= 0) {
            virtq_unpop(q, n);
            return r < 0 ? -EIO : 0;
        }
        const struct iovec *in = net->chain.iov + net->chain.n_out;
        if (n == 0) {
            /* The first buffer must hold the whole header (spec 5.1.6.3.1). */
            if (net->chain.in_len < VIRTIO_NET_HDR_SIZE) {
                virtq_push(q, net->chain.head, 0);
                return 1;
            }
            n_hdr_iov = net->chain.n_in < ARRAY_SIZE(hdr_iov) ? net->chain.n_in : ARRAY_SIZE(hdr_iov);
            memcpy(hdr_iov, in, n_hdr_iov * sizeof(*in));
        }
        size_t done = buf_to_iov(in, net->chain.n_in, 0, net->rx_buf + off, net->rx_len - off);
        net->mrg[n].head = net->chain.head;
        net->mrg[n].len = (uint32_t) done;
        n++;
        off += done;
    }
    if (n > 1) {
        uint8_t nb[2];
        put_le16(nb, n);
        buf_to_iov(hdr_iov, n_hdr_iov, 10, nb, 2);
    }
    for (uint16_t k = 0; k < n; k++)
        virtq_push(q, net->mrg[k].head, net->mrg[k].len);
    return 1;
}

static void rx_process(struct virtio_dev *dev)
{
    struct net *net = dev->priv;
    struct virtq *q = &dev->queues[NET_RXQ];
    bool pushed = false;
    for (int i = 0; i < NET_BATCH; i++) {
        if (net->rx_len == 0) {
            ssize_t r = read(net->fd, net->rx_buf, sizeof(net->rx_buf));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            if ((size_t) r < VIRTIO_NET_HDR_SIZE)
                continue; /* not even a header: nothing to deliver */
            net->rx_len = (size_t) r;
        }
        int r = rx_deliver_one(dev);
        if (r < 0) {
            virtio_dev_set_broken(dev);
            return;
        }
        if (r == 0) {
            /* No buffers: keep the frame, stop reading until the guest posts some. */
            set_watch(dev, false);
            virtq_set_notification(q, true);
            break;
        }
        net->rx_len = 0;
        pushed = true;
    }
    if (net->rx_len == 0)
        set_watch(dev, true);
    if (pushed)
        virtio_dev_notify_used(dev, NET_RXQ);
}

static void tx_process(struct virtio_dev *dev)
{
    struct net *net = dev->priv;
    struct virtq *q = &dev->queues[NET_TXQ];
    int r;
    for (;;) {
        while ((r = virtq_pop(q, dev->mem, &net->chain)) > 0) {
            /* Only the device-readable part is a frame (header + packet). */
            if (net->chain.out_len >= VIRTIO_NET_HDR_SIZE && net->chain.out_len <= NET_MAX_FRAME) {
                struct msghdr msg = { .msg_iov = net->chain.iov, .msg_iovlen = net->chain.n_out };
                ssize_t w;
                do
                    w = net->is_tap ? writev(net->fd, net->chain.iov, (int) net->chain.n_out)
                                    : sendmsg(net->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
                while (w < 0 && errno == EINTR);
                /* A frame the tap refuses (bad GSO metadata, full peer) is dropped, like on a wire. */
            }
            virtq_push(q, net->chain.head, 0);
        }
        if (r < 0)
            break;
        virtq_set_notification(q, true);
        if (virtq_pending(q) == 0)
            break;
    }
    if (r < 0)
        virtio_dev_set_broken(dev);
    else
        virtio_dev_notify_used(dev, NET_TXQ);
}

static void net_queue_notify(struct virtio_dev *dev, uint16_t q)
{
    if (q == NET_TXQ)
        tx_process(dev);
    else
        rx_process(dev);
}

static void net_handle_events(struct virtio_dev *dev)
{
    struct epoll_event ev[2];
    if (epoll_wait(dev->epoll_fd, ev, ARRAY_SIZE(ev), 0) > 0 && virtio_dev_live(dev))
        rx_process(dev);
}

static bool net_features_ok(struct virtio_dev *dev, uint64_t f)
{
    /* Dependencies from spec 5.1.3.1. */
#define HAS(b) ((f & VIRTIO_BIT(b)) != 0)
    if ((HAS(VIRTIO_NET_F_GUEST_TSO4) || HAS(VIRTIO_NET_F_GUEST_TSO6)) && !HAS(VIRTIO_NET_F_GUEST_CSUM))
        return false;
    if (HAS(VIRTIO_NET_F_GUEST_ECN) && !HAS(VIRTIO_NET_F_GUEST_TSO4) && !HAS(VIRTIO_NET_F_GUEST_TSO6))
        return false;
    if ((HAS(VIRTIO_NET_F_HOST_TSO4) || HAS(VIRTIO_NET_F_HOST_TSO6)) && !HAS(VIRTIO_NET_F_CSUM))
        return false;
    if (HAS(VIRTIO_NET_F_HOST_ECN) && !HAS(VIRTIO_NET_F_HOST_TSO4) && !HAS(VIRTIO_NET_F_HOST_TSO6))
        return false;
#undef HAS
    return true;
}

unsigned virtio_net_tap_offloads(uint64_t features)
{
    unsigned o = 0;
    if (features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM))
        o |= TUN_F_CSUM;
    if (features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4))
        o |= TUN_F_TSO4;
    if (features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6))
        o |= TUN_F_TSO6;
    if (features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN))
        o |= TUN_F_TSO_ECN;
    return o;
}

static int net_activate(struct virtio_dev *dev)
{
    struct net *net = dev->priv;
    /* What the tap may hand us is what the guest accepted to receive. */
    if (net->is_tap && ioctl(net->fd, TUNSETOFFLOAD, virtio_net_tap_offloads(dev->driver_features)) < 0)
        return -errno;
    set_watch(dev, true);
    return 0;
}

static void net_reset(struct virtio_dev *dev)
{
    struct net *net = dev->priv;
    set_watch(dev, false);
    net->rx_len = 0;
}

static void net_free(struct virtio_dev *dev)
{
    struct net *net = dev->priv;
    if (!net)
        return;
    if (net->fd >= 0)
        close(net->fd);
    free(net);
}

static const struct virtio_device_ops net_ops = {
    .name = "net",
    .device_id = VIRTIO_ID_NET,
    .features_ok = net_features_ok,
    .activate = net_activate,
    .queue_notify = net_queue_notify,
    .handle_events = net_handle_events,
    .reset = net_reset,
    .free = net_free,
};

int virtio_net_new(int tap_fd, const uint8_t mac[6], struct virtio_dev **ret, struct berth_error *err)
{
    _cleanup_close_ int fd = tap_fd;
    struct virtio_dev *dev = calloc(1, sizeof(*dev));
    struct net *net = calloc(1, sizeof(*net));
    if (!dev || !net) {
        free(dev);
        free(net);
        return berth_error_set(err, -ENOMEM, "virtio-net: out of memory");
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        free(dev);
        free(net);
        return berth_error_errno(err, -errno, "virtio-net: backend fd");
    }
    uint64_t features = VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_STATUS);
    int hdr = VIRTIO_NET_HDR_SIZE;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) == 0) {
        /* A tap: offer the offloads it can take (TUNSETOFFLOAD with them all must work). */
        net->is_tap = true;
        if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) == 0)
            features |= VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |
                        VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) |
                        VIRTIO_BIT(VIRTIO_NET_F_HOST_ECN) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
                        VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN);
        ioctl(fd, TUNSETOFFLOAD, 0);
    }
    if (mac) {
        features |= VIRTIO_BIT(VIRTIO_NET_F_MAC);
        memcpy(net->config, mac, 6);
    }
    put_le16(net->config + 6, VIRTIO_NET_S_LINK_UP);
    net->fd = TAKE_FD(fd);
    int r = virtio_dev_init(dev, &net_ops, net, 2, NET_QUEUE_SIZE, features);
    if (r == 0)
        r = virtio_dev_watch(dev, net->fd, 0, TAG_TAP);
    if (r < 0) {
        virtio_dev_free(dev);
        return berth_error_errno(err, r, "virtio-net");
    }
    dev->config = net->config;
    dev->config_size = VIRTIO_NET_CONFIG_SIZE;
    *ret = dev;
    return 0;
}

int virtio_net_open_tap(const char *name, int *ret_fd, struct berth_error *err)
{
    if (strlen(name) >= IFNAMSIZ)
        return berth_error_set(err, -EINVAL, "tap '%s': name longer than %d bytes", name, IFNAMSIZ - 1);
    _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return berth_error_errno(err, -errno, "tap '%s': /dev/net/tun", name);
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
    strcpy(ifr.ifr_name, name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        return berth_error_errno(err, -errno, "tap '%s': TUNSETIFF", name);
    *ret_fd = TAKE_FD(fd);
    return 0;
}
