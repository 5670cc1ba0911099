/* virtio-vsock (spec 5.10), host side over Unix sockets as Firecracker does it:
 * - host programs connect to uds_path and say "CONNECT <port>\n"; once the guest accepts they
 *   read "OK <host_port>\n" and the socket is the stream;
 * - guest connections to CID 2 port P are connected to the Unix socket "<uds_path>_<P>".
 * Queues: 0 rx (device to guest), 1 tx (guest to device), 2 event (unused: no migration).
 *
 * Flow control (spec 5.10.6.3): we advertise VSOCK_CONN_BUF bytes per connection and count in
 * fwd_cnt what reached the Unix socket; bytes the socket cannot take yet wait in a per-connection
 * buffer that the guest's credit bounds. Towards the guest we never send more than its
 * buf_alloc - (tx_cnt - fwd_cnt). Sockets are edge-triggered: a connection's "readable" flag
 * stays set until a read hits EAGAIN, so data waits in the socket (not in our memory) while the
 * guest has no buffers or no credit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "vmm/devices/virtio/virtio-dev.h"
#include "vmm/devices/virtio/virtio-devices.h"
#include "vmm/devices/virtio/virtio-vsock.h"

#define VSOCK_QUEUE_SIZE 256
#define VSOCK_RXQ 0
#define VSOCK_TXQ 1
#define VSOCK_EVQ 2
#define VSOCK_MAX_CONNS 1024
#define VSOCK_CTRL_MAX 256
#define VSOCK_MAX_PKT 65536
#define VSOCK_LINE_MAX 64
/* Unadvertised forwarded bytes that trigger an unsolicited credit update. */
#define VSOCK_CREDIT_THRESHOLD (VSOCK_CONN_BUF / 4)

#define TAG_LISTENER 1ull
#define TAG_CONN_BASE 16ull

enum conn_state {
    CONN_HANDSHAKE,  /* host socket accepted, waiting for "CONNECT <port>\n" */
    CONN_CONNECTING, /* REQUEST sent to the guest, waiting for RESPONSE */
    CONN_ESTABLISHED,
};

struct conn {
    uint64_t id;
    int fd;
    enum conn_state state;
    uint32_t local_port, peer_port;
    uint32_t peer_buf_alloc, peer_fwd_cnt;
    uint32_t tx_cnt;       /* bytes sent to the guest */
    uint32_t fwd_cnt;      /* guest bytes written to the socket */
    uint32_t fwd_cnt_sent; /* fwd_cnt the guest last heard */
    uint8_t *buf;          /* guest bytes the socket has not taken yet */
    size_t buf_len;
    bool readable;
    bool rdhup;            /* the host side shut its write end (EOF once the data is read) */
    bool host_eof;         /* socket gave EOF: SHUTDOWN(SEND) queued to the guest */
    bool guest_no_send;    /* guest sent SHUTDOWN(SEND): shut our write side once flushed */
    bool close_after_flush;
};

struct ctrl_pkt {
    uint8_t hdr[VSOCK_HDR_SIZE];
};

struct vsock {
    uint64_t guest_cid;
    char *uds_path;
    int listen_fd;
    uint8_t config[8];
    struct conn *conns[VSOCK_MAX_CONNS];
    size_t n_conns;
    uint64_t next_id;
    uint32_t next_host_port;
    struct ctrl_pkt ctrl[VSOCK_CTRL_MAX];
    size_t ctrl_head, ctrl_len;
    bool tx_stalled;
    struct virtq_chain chain;
    struct iovec slice[VIRTQ_CHAIN_MAX];
};


static struct conn *conn_by_ports(struct vsock *vs, uint32_t local, uint32_t peer)
{
    for (size_t i = 0; i < vs->n_conns; i++) {
        struct conn *c = vs->conns[i];
        if (c->state != CONN_HANDSHAKE && c->local_port == local && c->peer_port == peer)
            return c;
    }
    return NULL;
}

static struct conn *conn_by_id(struct vsock *vs, uint64_t id)
{
    for (size_t i = 0; i < vs->n_conns; i++)
        if (vs->conns[i]->id == id)
            return vs->conns[i];
    return NULL;
}

static struct conn *conn_new(struct virtio_dev *dev, int fd, enum conn_state state)
{
    struct vsock *vs = dev->priv;
    if (vs->n_conns >= VSOCK_MAX_CONNS)
        return NULL;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->id = TAG_CONN_BASE + vs->next_id++;
    c->fd = fd;
    c->state = state;
    if (virtio_dev_watch(dev, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c->id) < 0) {
        free(c);
        return NULL;
    }
    vs->conns[vs->n_conns++] = c;
    return c;
}

static void conn_free(struct virtio_dev *dev, struct conn *c)
{
    struct vsock *vs = dev->priv;
    for (size_t i = 0; i < vs->n_conns; i++) {
        if (vs->conns[i] == c) {
            vs->conns[i] = vs->conns[--vs->n_conns];
            break;
        }
    }
    virtio_dev_unwatch(dev, c->fd);
    close(c->fd);
    free(c->buf);
    free(c);
}

static void fill_hdr(struct vsock *vs, uint8_t *h, const struct conn *c, uint32_t local, uint32_t peer,
                     uint16_t op, uint32_t flags, uint32_t len)
{
    memset(h, 0, VSOCK_HDR_SIZE);
    put_le64(h + VSOCK_OFF_SRC_CID, VSOCK_HOST_CID);
    put_le64(h + VSOCK_OFF_DST_CID, vs->guest_cid);
    put_le32(h + VSOCK_OFF_SRC_PORT, local);
    put_le32(h + VSOCK_OFF_DST_PORT, peer);
    put_le32(h + VSOCK_OFF_LEN, len);
    put_le16(h + VSOCK_OFF_TYPE, VSOCK_TYPE_STREAM);
    put_le16(h + VSOCK_OFF_OP, op);
    put_le32(h + VSOCK_OFF_FLAGS, flags);
    put_le32(h + VSOCK_OFF_BUF_ALLOC, VSOCK_CONN_BUF);
    put_le32(h + VSOCK_OFF_FWD_CNT, c ? c->fwd_cnt : 0);
}

/* Queues a control packet (no payload) for the guest. Full queue: dropped, which only happens
 * when the guest stopped reading rx while flooding tx, and tx processing stalls before that. */
static bool ctrl_push(struct vsock *vs, struct conn *c, uint32_t local, uint32_t peer, uint16_t op, uint32_t flags)
{
    if (vs->ctrl_len == VSOCK_CTRL_MAX)
        return false;
    struct ctrl_pkt *p = &vs->ctrl[(vs->ctrl_head + vs->ctrl_len++) % VSOCK_CTRL_MAX];
    fill_hdr(vs, p->hdr, c, local, peer, op, flags, 0);
    if (c)
        c->fwd_cnt_sent = c->fwd_cnt;
    return true;
}

static void conn_reset(struct virtio_dev *dev, struct conn *c)
{
    struct vsock *vs = dev->priv;
    if (c->state != CONN_HANDSHAKE)
        ctrl_push(vs, NULL, c->local_port, c->peer_port, VSOCK_OP_RST, 0);
    conn_free(dev, c);
}

static uint32_t peer_credit(const struct conn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Writes buffered guest bytes to the socket; finishes a shutdown once everything is out. */
static void conn_flush(struct virtio_dev *dev, struct conn *c)
{
    struct vsock *vs = dev->priv;
    while (c->buf_len > 0) {
        ssize_t n = send(c->fd, c->buf, c->buf_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            conn_reset(dev, c);
            return;
        }
        memmove(c->buf, c->buf + n, c->buf_len - (size_t) n);
        c->buf_len -= (size_t) n;
        c->fwd_cnt += (uint32_t) n;
    }
    if (c->close_after_flush) {
        conn_reset(dev, c);
        return;
    }
    if (c->guest_no_send)
        shutdown(c->fd, SHUT_WR);
    if ((uint32_t) (c->fwd_cnt - c->fwd_cnt_sent) >= VSOCK_CREDIT_THRESHOLD)
        ctrl_push(vs, c, c->local_port, c->peer_port, VSOCK_OP_CREDIT_UPDATE, 0);
}

/* Guest payload for c: straight to the socket, the rest into the connection's buffer. */
static void conn_recv_from_guest(struct virtio_dev *dev, struct conn *c, const struct iovec *iov, size_t n_iov,
                                 size_t len)
{
    size_t off = 0;
    if (c->buf_len == 0) {
        struct msghdr msg = { .msg_iov = (struct iovec *) iov, .msg_iovlen = n_iov };
        ssize_t w;
        do
            w = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN) {
            conn_reset(dev, c);
            return;
        }
        if (w > 0) {
            off = (size_t) w;
            c->fwd_cnt += (uint32_t) w;
        }
    }
    if (off < len) {
        /* The guest may only have VSOCK_CONN_BUF bytes outstanding: more breaks its credit. */
        if (c->buf_len + (len - off) > VSOCK_CONN_BUF) {
            conn_reset(dev, c);
            return;
        }
        if (!c->buf && !(c->buf = malloc(VSOCK_CONN_BUF))) {
            conn_reset(dev, c);
            return;
        }
        iov_to_buf(iov, n_iov, off, c->buf + c->buf_len, len - off);
        c->buf_len += len - off;
    }
    conn_flush(dev, c);
}

static int connect_guest_to_host(struct vsock *vs, uint32_t port)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int len = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", vs->uds_path, port);
    if (len < 0 || (size_t) len >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
        return -errno;
    return TAKE_FD(fd);
}

/* One packet from the guest. */
static void handle_tx_packet(struct virtio_dev *dev, const struct virtq_chain *ch)
{
    struct vsock *vs = dev->priv;
    uint8_t h[VSOCK_HDR_SIZE];
    if (ch->out_len < VSOCK_HDR_SIZE)
        return;
    iov_to_buf(ch->iov, ch->n_out, 0, h, sizeof(h));
    uint64_t src_cid = get_le64(h + VSOCK_OFF_SRC_CID), dst_cid = get_le64(h + VSOCK_OFF_DST_CID);
    uint32_t src_port = get_le32(h + VSOCK_OFF_SRC_PORT), dst_port = get_le32(h + VSOCK_OFF_DST_PORT);
    uint32_t len = get_le32(h + VSOCK_OFF_LEN), flags = get_le32(h + VSOCK_OFF_FLAGS);
    uint16_t type = get_le16(h + VSOCK_OFF_TYPE), op = get_le16(h + VSOCK_OFF_OP);
    /* Spoofed source or a destination other than the host: dropped (spec 5.10.6.6). */
    if (src_cid != vs->guest_cid || dst_cid != VSOCK_HOST_CID)
        return;
    struct conn *c = conn_by_ports(vs, dst_port, src_port);
    if (type != VSOCK_TYPE_STREAM) {
        if (op != VSOCK_OP_RST)
            ctrl_push(vs, NULL, dst_port, src_port, VSOCK_OP_RST, 0);
        return;
    }
    if (c) {
        c->peer_buf_alloc = get_le32(h + VSOCK_OFF_BUF_ALLOC);
        c->peer_fwd_cnt = get_le32(h + VSOCK_OFF_FWD_CNT);
    }
    switch (op) {
    case VSOCK_OP_REQUEST: {
        if (c) {
            conn_reset(dev, c);
            return;
        }
        int fd = connect_guest_to_host(vs, dst_port);
        struct conn *nc = fd >= 0 ? conn_new(dev, fd, CONN_ESTABLISHED) : NULL;
        if (!nc) {
            if (fd >= 0)
                close(fd);
            ctrl_push(vs, NULL, dst_port, src_port, VSOCK_OP_RST, 0);
            return;
        }
        nc->local_port = dst_port;
        nc->peer_port = src_port;
        nc->peer_buf_alloc = get_le32(h + VSOCK_OFF_BUF_ALLOC);
        nc->peer_fwd_cnt = get_le32(h + VSOCK_OFF_FWD_CNT);
        ctrl_push(vs, nc, dst_port, src_port, VSOCK_OP_RESPONSE, 0);
        return;
    }
    case VSOCK_OP_RST:
        if (c)
            conn_free(dev, c);
        return;
    default:
        break;
    }
    if (!c) {
        /* Anything else for a connection we do not know gets a reset (never for a reset). */
        ctrl_push(vs, NULL, dst_port, src_port, VSOCK_OP_RST, 0);
        return;
    }
    switch (op) {
    case VSOCK_OP_RESPONSE:
        if (c->state != CONN_CONNECTING) {
            conn_reset(dev, c);
            return;
        }
        c->state = CONN_ESTABLISHED;
        char line[32];
        int n = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
        if (send(c->fd, line, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
            conn_reset(dev, c);
            return;
        }
        /* Data the host wrote right after its CONNECT line may already be waiting. */
        c->readable = true;
        break;
    case VSOCK_OP_RW: {
        if (c->state != CONN_ESTABLISHED || len > ch->out_len - VSOCK_HDR_SIZE || c->guest_no_send) {
            conn_reset(dev, c);
            return;
        }
        size_t n_iov = iov_slice(vs->slice, ch->iov, ch->n_out, VSOCK_HDR_SIZE, len);
        conn_recv_from_guest(dev, c, vs->slice, n_iov, len);
        break;
    }
    case VSOCK_OP_CREDIT_UPDATE:
        break; /* credit already taken from the header */
    case VSOCK_OP_CREDIT_REQUEST:
        ctrl_push(vs, c, c->local_port, c->peer_port, VSOCK_OP_CREDIT_UPDATE, 0);
        break;
    case VSOCK_OP_SHUTDOWN:
        if ((flags & (VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV)) == (VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV)) {
            /* Full close: deliver what is buffered, then reset to complete the close. */
            c->close_after_flush = true;
            conn_flush(dev, c);
            return;
        }
        if (flags & VSOCK_SHUTDOWN_SEND) {
            c->guest_no_send = true;
            conn_flush(dev, c);
        }
        break;
    default:
        conn_reset(dev, c);
        break;
    }
}

#define CTRL_ROOM(vs) ((vs)->ctrl_len + 2 < VSOCK_CTRL_MAX)

/* Consumes guest packets; returns how many, or -1 when the queue broke. */
static int vsock_tx_only(struct virtio_dev *dev)
{
    struct vsock *vs = dev->priv;
    struct virtq *q = &dev->queues[VSOCK_TXQ];
    int r = 0, done = 0;
    vs->tx_stalled = false;
    for (;;) {
        /* Every packet may need a reply: stop while replies cannot be queued. */
        while (CTRL_ROOM(vs) && (r = virtq_pop(q, dev->mem, &vs->chain)) > 0) {
            handle_tx_packet(dev, &vs->chain);
            virtq_push(q, vs->chain.head, 0);
            done++;
        }
        if (r < 0 || !CTRL_ROOM(vs))
            break;
        virtq_set_notification(q, true);
        if (virtq_pending(q) == 0)
            break;
    }
    if (r < 0)
        return -1;
    if (!CTRL_ROOM(vs))
        vs->tx_stalled = true;
    if (done)
        virtio_dev_notify_used(dev, VSOCK_TXQ);
    return done;
}

/* Fills one rx chain with data read from c; returns bytes moved, 0 when nothing was read (the
 * chain is given back), -1 when the queue broke. */
static int rx_data(struct virtio_dev *dev, struct conn *c)
{
    struct vsock *vs = dev->priv;
    struct virtq *q = &dev->queues[VSOCK_RXQ];
    int r = virtq_pop(q, dev->mem, &vs->chain);
    if (r <= 0)
        return r < 0 ? -1 : 0;
    const struct iovec *in = vs->chain.iov + vs->chain.n_out;
    if (vs->chain.in_len <= VSOCK_HDR_SIZE) {
        /* No room for data: a buffer the guest should not have posted. */
        virtq_push(q, vs->chain.head, 0);
        return 0;
    }
    size_t room = vs->chain.in_len - VSOCK_HDR_SIZE;
    uint32_t credit = peer_credit(c);
    if (room > credit)
        room = credit;
    if (room > VSOCK_MAX_PKT)
        room = VSOCK_MAX_PKT;
    size_t n_iov = iov_slice(vs->slice, in, vs->chain.n_in, VSOCK_HDR_SIZE, room);
    ssize_t n;
    do
        n = readv(c->fd, vs->slice, (int) n_iov);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        virtq_unpop(q, 1);
        if (n == 0 || errno != EAGAIN) {
            c->host_eof = true;
            ctrl_push(vs, c, c->local_port, c->peer_port, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND);
        }
        c->readable = false;
        return 0;
    }
    uint8_t h[VSOCK_HDR_SIZE];
    fill_hdr(vs, h, c, c->local_port, c->peer_port, VSOCK_OP_RW, 0, (uint32_t) n);
    buf_to_iov(in, vs->chain.n_in, 0, h, sizeof(h));
    c->tx_cnt += (uint32_t) n;
    c->fwd_cnt_sent = c->fwd_cnt;
    virtq_push(q, vs->chain.head, VSOCK_HDR_SIZE + (uint32_t) n);
    return 1;
}

/* Moves packets to the guest: queued control packets first (they unblock it: responses, credit,
 * resets), then data, round-robin over readable connections with credit. Returns -1 when the
 * queue broke. */
static int vsock_rx_only(struct virtio_dev *dev)
{
    struct vsock *vs = dev->priv;
    struct virtq *q = &dev->queues[VSOCK_RXQ];
    bool pushed = false, progress = true;
    while (progress) {
        progress = false;
        while (vs->ctrl_len > 0) {
            int r = virtq_pop(q, dev->mem, &vs->chain);
            if (r < 0)
                return -1;
            if (r == 0)
                break;
            struct ctrl_pkt *p = &vs->ctrl[vs->ctrl_head];
            uint32_t len = 0;
            if (vs->chain.in_len >= VSOCK_HDR_SIZE) {
                buf_to_iov(vs->chain.iov + vs->chain.n_out, vs->chain.n_in, 0, p->hdr, VSOCK_HDR_SIZE);
                len = VSOCK_HDR_SIZE;
                vs->ctrl_head = (vs->ctrl_head + 1) % VSOCK_CTRL_MAX;
                vs->ctrl_len--;
            }
            virtq_push(q, vs->chain.head, len);
            pushed = true;
        }
        if (vs->ctrl_len > 0)
            break; /* out of buffers */
        for (size_t i = 0; i < vs->n_conns && vs->ctrl_len == 0; i++) {
            struct conn *c = vs->conns[i];
            if (c->state != CONN_ESTABLISHED || !c->readable || c->host_eof)
                continue;
            if (peer_credit(c) == 0) {
                /* No credit for data, but an EOF with nothing left to read is still news. */
                char byte;
                if (c->rdhup && recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
                    c->host_eof = true;
                    ctrl_push(vs, c, c->local_port, c->peer_port, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND);
                    progress = true;
                }
                continue;
            }
            int r = rx_data(dev, c);
            if (r < 0)
                return -1;
            if (r > 0)
                pushed = true;
            if (r > 0 || vs->ctrl_len > 0)
                progress = true;
            else if (virtq_pending(q) <= 0)
                break;
        }
    }
    if (pushed)
        virtio_dev_notify_used(dev, VSOCK_RXQ);
    return 0;
}

/* rx, then tx again if it stalled for lack of room for replies, while that makes progress. */
static void vsock_pump(struct virtio_dev *dev)
{
    struct vsock *vs = dev->priv;
    for (;;) {
        if (vsock_rx_only(dev) < 0)
            break;
        if (!vs->tx_stalled || !CTRL_ROOM(vs))
            return;
        int r = vsock_tx_only(dev);
        if (r < 0)
            break;
        if (r == 0)
            return;
    }
    virtio_dev_set_broken(dev);
}

/* Reads the host's "CONNECT <port>\n" without consuming anything past the newline. */
static void handshake(struct virtio_dev *dev, struct conn *c)
{
    struct vsock *vs = dev->priv;
    char line[VSOCK_LINE_MAX + 1];
    ssize_t n = recv(c->fd, line, VSOCK_LINE_MAX, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        conn_free(dev, c);
        return;
    }
    char *nl = memchr(line, '\n', (size_t) n);
    if (!nl) {
        if (n == VSOCK_LINE_MAX)
            conn_free(dev, c); /* no command line in sight */
        return;
    }
    size_t len = (size_t) (nl - line) + 1;
    if (recv(c->fd, line, len, MSG_DONTWAIT) != (ssize_t) len) {
        conn_free(dev, c);
        return;
    }
    line[len - 1] = '\0';
    char *end;
    unsigned long port;
    if (strncasecmp(line, "CONNECT ", 8) != 0 || line[8] < '0' || line[8] > '9' ||
        (port = strtoul(line + 8, &end, 10)) > UINT32_MAX || (*end != '\0' && *end != '\r')) {
        conn_free(dev, c);
        return;
    }
    /* A host port no other connection to this guest port uses. */
    uint32_t local;
    do
        local = vs->next_host_port++ | VSOCK_HOST_PORT_BASE;
    while (conn_by_ports(vs, local, (uint32_t) port));
    c->local_port = local;
    c->peer_port = (uint32_t) port;
    c->state = CONN_CONNECTING;
    if (!ctrl_push(vs, c, local, (uint32_t) port, VSOCK_OP_REQUEST, 0))
        conn_free(dev, c); /* the guest is not reading: refuse rather than hang */
}

static void accept_all(struct virtio_dev *dev)
{
    struct vsock *vs = dev->priv;
    for (;;) {
        int fd = accept4(vs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct conn *c = conn_new(dev, fd, CONN_HANDSHAKE);
        if (!c) {
            close(fd);
            continue;
        }
        handshake(dev, c);
    }
}

static void conn_event(struct virtio_dev *dev, struct conn *c, uint32_t events)
{
    if (c->state == CONN_HANDSHAKE) {
        handshake(dev, c);
        return;
    }
    if ((events & (EPOLLHUP | EPOLLERR)) && c->state == CONN_CONNECTING) {
        conn_reset(dev, c); /* the host gave up before the guest answered */
        return;
    }
    if (events & EPOLLOUT) {
        conn_flush(dev, c);
        /* conn_flush may have freed c: look it up again through the caller. */
        return;
    }
}

static void vsock_handle_events(struct virtio_dev *dev)
{
    struct vsock *vs = dev->priv;
    struct epoll_event ev[32];
    int n = epoll_wait(dev->epoll_fd, ev, ARRAY_SIZE(ev), 0);
    if (n <= 0 || !virtio_dev_live(dev))
        return;
    for (int i = 0; i < n; i++) {
        uint64_t tag = ev[i].data.u64;
        if (tag == TAG_LISTENER) {
            accept_all(dev);
            continue;
        }
        /* Looked up by id: an earlier event of this batch may have freed the connection. */
        struct conn *c = conn_by_id(vs, tag);
        if (!c)
            continue;
        if (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            c->readable = true;
        if (ev[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            c->rdhup = true;
        conn_event(dev, c, ev[i].events);
    }
    vsock_pump(dev);
}

static void vsock_queue_notify(struct virtio_dev *dev, uint16_t q)
{
    /* Event queue buffers are kept: we have no events to report. */
    if (q == VSOCK_TXQ && vsock_tx_only(dev) < 0) {
        virtio_dev_set_broken(dev);
        return;
    }
    vsock_pump(dev);
}

static int vsock_activate(struct virtio_dev *dev)
{
    struct vsock *vs = dev->priv;
    return virtio_dev_watch(dev, vs->listen_fd, EPOLLIN, TAG_LISTENER);
}

static void vsock_reset(struct virtio_dev *dev)
{
    struct vsock *vs = dev->priv;
    /* The guest forgot every connection: the host sides see them closed. */
    while (vs->n_conns > 0)
        conn_free(dev, vs->conns[0]);
    vs->ctrl_len = vs->ctrl_head = 0;
    vs->tx_stalled = false;
    virtio_dev_unwatch(dev, vs->listen_fd);
}

static void vsock_free(struct virtio_dev *dev)
{
    struct vsock *vs = dev->priv;
    if (!vs)
        return;
    for (size_t i = 0; i < vs->n_conns; i++) {
        close(vs->conns[i]->fd);
        free(vs->conns[i]->buf);
        free(vs->conns[i]);
    }
    if (vs->listen_fd >= 0) {
        close(vs->listen_fd);
        unlink(vs->uds_path);
    }
    free(vs->uds_path);
    free(vs);
}

static const struct virtio_device_ops vsock_ops = {
    .name = "vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .activate = vsock_activate,
    .queue_notify = vsock_queue_notify,
    .handle_events = vsock_handle_events,
    .reset = vsock_reset,
    .free = vsock_free,
};

static int listen_unix(const char *path, struct berth_error *err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path) - 12) /* room for "_<port>" of guest connections */
        return berth_error_set(err, -ENAMETOOLONG, "vsock socket '%s': path too long for a Unix socket", path);
    strcpy(sa.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return berth_error_errno(err, -errno, "vsock socket '%s'", path);
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
        if (errno != EADDRINUSE)
            return berth_error_errno(err, -errno, "vsock socket '%s': bind", path);
        /* A stale socket from an earlier run is replaced; one somebody listens on is not. */
        _cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *) &sa, sizeof(sa)) == 0)
            return berth_error_set(err, -EADDRINUSE, "vsock socket '%s': in use by another process", path);
        unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
            return berth_error_errno(err, -errno, "vsock socket '%s': bind", path);
    }
    if (listen(fd, 128) < 0)
        return berth_error_errno(err, -errno, "vsock socket '%s': listen", path);
    return TAKE_FD(fd);
}

int virtio_vsock_new(uint64_t guest_cid, const char *uds_path, struct virtio_dev **ret, struct berth_error *err)
{
    /* CIDs 0-2 are reserved (hypervisor, local, host) and 0xffffffff is "any" (spec 5.10.4). */
    if (guest_cid < 3 || guest_cid >= 0xffffffffull)
        return berth_error_set(err, -EINVAL, "vsock: guest CID %llu is reserved (use 3 to 4294967294)",
                               (unsigned long long) guest_cid);
    struct virtio_dev *dev = calloc(1, sizeof(*dev));
    struct vsock *vs = calloc(1, sizeof(*vs));
    char *path = strdup(uds_path);
    if (!dev || !vs || !path) {
        free(dev);
        free(vs);
        free(path);
        return berth_error_set(err, -ENOMEM, "vsock: out of memory");
    }
    vs->guest_cid = guest_cid;
    vs->uds_path = path;
    vs->listen_fd = -1;
    int r = virtio_dev_init(dev, &vsock_ops, vs, 3, VSOCK_QUEUE_SIZE, 0);
    if (r == 0)
        r = virtio_dev_events_init(dev);
    if (r < 0) {
        virtio_dev_free(dev);
        return berth_error_errno(err, r, "vsock");
    }
    r = listen_unix(uds_path, err);
    if (r < 0) {
        virtio_dev_free(dev);
        return r;
    }
    vs->listen_fd = r;
    put_le64(vs->config, guest_cid);
    dev->config = vs->config;
    dev->config_size = sizeof(vs->config);
    *ret = dev;
    return 0;
}
