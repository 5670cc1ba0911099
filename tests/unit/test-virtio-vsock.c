/* virtio-vsock with real Unix sockets in a temp dir: host-initiated connections (CONNECT/OK
 * protocol), guest-initiated ones (<uds>_<port>), data both ways, credit, shutdown and resets,
 * and the packets a hostile guest may send. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/devices/virtio/virtio-vsock.h"
#include "virtio-fake-driver.h"

#define CID 42
#define RXBUF (VSOCK_HDR_SIZE + 4096)

struct vs_env {
    char dir[64];
    char path[128];
    struct fake_guest g;
};

static struct vs_env *setup_vsock(void)
{
    struct vs_env *e = calloc(1, sizeof(*e));
    strcpy(e->dir, "/tmp/berth-test-vsock-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->path, sizeof(e->path), "%s/v.sock", e->dir);
    struct virtio_dev *dev;
    assert_int_equal(virtio_vsock_new(CID, e->path, &dev, NULL), 0);
    assert_int_equal(fake_guest_init(&e->g, dev), 0);
    assert_true(driver_start(&e->g, FEATURES_V1, 3, 64) & VIRTIO_STATUS_FEATURES_OK);
    for (int i = 0; i < 16; i++) {
        struct fake_buf b = { fake_alloc(&e->g, RXBUF, 8), RXBUF, true };
        add_chain(&e->g, 0, &b, 1);
    }
    kick(&e->g, 0);
    return e;
}

static void teardown_vsock(struct vs_env *e)
{
    fake_guest_fini(&e->g);
    unlink(e->path); /* already gone if the device cleaned up */
    rmdir(e->dir);
    free(e);
}

static void pump(struct fake_guest *g, int ms)
{
    struct pollfd p = { .fd = virtio_mmio_event_fd(g->vm), .events = POLLIN };
    while (poll(&p, 1, ms) > 0)
        virtio_mmio_handle_events(g->vm);
}

struct pkt {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len, flags, buf_alloc, fwd_cnt;
    uint16_t type, op;
    uint8_t data[4096];
};

/* Next packet the device gave the guest (re-posting the rx buffer); 0 if none. */
static int guest_recv(struct fake_guest *g, struct pkt *p)
{
    uint32_t id, len;
    if (!used_next(g, 0, &id, &len))
        return 0;
    /* add_chain placed buffer k at descriptor k: find its address in the table. */
    uint64_t addr;
    memcpy(&addr, (uint8_t *) gpa_ptr(g, g->q[0].desc + 16u * id), 8);
    const uint8_t *h = gpa_ptr(g, addr);
    assert_true(len >= VSOCK_HDR_SIZE);
    p->src_cid = get_le64(h + VSOCK_OFF_SRC_CID);
    p->dst_cid = get_le64(h + VSOCK_OFF_DST_CID);
    p->src_port = get_le32(h + VSOCK_OFF_SRC_PORT);
    p->dst_port = get_le32(h + VSOCK_OFF_DST_PORT);
    p->len = get_le32(h + VSOCK_OFF_LEN);
    p->type = get_le16(h + VSOCK_OFF_TYPE);
    p->op = get_le16(h + VSOCK_OFF_OP);
    p->flags = get_le32(h + VSOCK_OFF_FLAGS);
    p->buf_alloc = get_le32(h + VSOCK_OFF_BUF_ALLOC);
    p->fwd_cnt = get_le32(h + VSOCK_OFF_FWD_CNT);
    assert_int_equal(len, VSOCK_HDR_SIZE + p->len);
    memcpy(p->data, h + VSOCK_HDR_SIZE, p->len);
    /* Give the buffer back, as a driver would. */
    avail_publish(g, 0, (uint16_t) id);
    kick(g, 0);
    return 1;
}

static void guest_send(struct fake_guest *g, uint64_t src_cid, uint32_t src_port, uint32_t dst_port, uint16_t op,
                       uint32_t flags, const void *data, uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt)
{
    uint64_t h = fake_alloc(g, VSOCK_HDR_SIZE, 8);
    uint8_t *p = gpa_ptr(g, h);
    put_le64(p + VSOCK_OFF_SRC_CID, src_cid);
    put_le64(p + VSOCK_OFF_DST_CID, VSOCK_HOST_CID);
    put_le32(p + VSOCK_OFF_SRC_PORT, src_port);
    put_le32(p + VSOCK_OFF_DST_PORT, dst_port);
    put_le32(p + VSOCK_OFF_LEN, len);
    put_le16(p + VSOCK_OFF_TYPE, VSOCK_TYPE_STREAM);
    put_le16(p + VSOCK_OFF_OP, op);
    put_le32(p + VSOCK_OFF_FLAGS, flags);
    put_le32(p + VSOCK_OFF_BUF_ALLOC, buf_alloc);
    put_le32(p + VSOCK_OFF_FWD_CNT, fwd_cnt);
    struct fake_buf b[2] = { { h, VSOCK_HDR_SIZE, false }, { 0, 0, false } };
    int n = 1;
    if (len) {
        uint64_t d = fake_alloc(g, len, 8);
        memcpy(gpa_ptr(g, d), data, len);
        b[1] = (struct fake_buf){ d, len, false };
        n = 2;
    }
    add_chain(g, 1, b, n);
    kick(g, 1);
}

static int host_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, path);
    assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    return fd;
}

static ssize_t read_timeout(int fd, void *buf, size_t len)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, 2000) <= 0)
        return -ETIMEDOUT;
    return read(fd, buf, len);
}

static void test_host_initiated(void **state)
{
    struct vs_env *e = setup_vsock();
    struct fake_guest *g = &e->g;
    uint64_t cid = 0;
    config_read(g, 0, &cid, 8);
    assert_int_equal(cid, CID);

    int h = host_connect(e->path);
    assert_int_equal(write(h, "CONNECT 52\nhello", 16), 16);
    pump(g, 200);
    struct pkt p;
    assert_int_equal(guest_recv(g, &p), 1);
    assert_int_equal(p.op, VSOCK_OP_REQUEST);
    assert_int_equal(p.src_cid, VSOCK_HOST_CID);
    assert_int_equal(p.dst_cid, CID);
    assert_int_equal(p.dst_port, 52);
    assert_int_equal(p.type, VSOCK_TYPE_STREAM);
    assert_int_equal(p.buf_alloc, VSOCK_CONN_BUF);
    assert_true(p.src_port >= VSOCK_HOST_PORT_BASE);
    uint32_t host_port = p.src_port;

    guest_send(g, CID, 52, host_port, VSOCK_OP_RESPONSE, 0, NULL, 0, 65536, 0);
    char line[64] = { 0 };
    char expect[32];
    snprintf(expect, sizeof(expect), "OK %u\n", host_port);
    assert_int_equal(read_timeout(h, line, strlen(expect)), (ssize_t) strlen(expect));
    assert_string_equal(line, expect);
    /* The bytes written after the CONNECT line arrive as data. */
    pump(g, 100);
    assert_int_equal(guest_recv(g, &p), 1);
    assert_int_equal(p.op, VSOCK_OP_RW);
    assert_int_equal(p.len, 5);
    assert_memory_equal(p.data, "hello", 5);

    guest_send(g, CID, 52, host_port, VSOCK_OP_RW, 0, "world", 5, 65536, 5);
    memset(line, 0, sizeof(line));
    assert_int_equal(read_timeout(h, line, sizeof(line)), 5);
    assert_string_equal(line, "world");

    /* Guest closes: the host sees EOF and the guest gets the closing reset. */
    guest_send(g, CID, 52, host_port, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, NULL, 0, 65536, 5);
    assert_int_equal(read_timeout(h, line, sizeof(line)), 0);
    assert_int_equal(guest_recv(g, &p), 1);
    assert_int_equal(p.op, VSOCK_OP_RST);
    assert_int_equal(p.src_port, host_port);
    close(h);
    teardown_vsock(e);
}

static void test_host_connect_refused_or_bad(void **state)
{
    struct vs_env *e = setup_vsock();
    struct fake_guest *g = &e->g;
    /* Guest refuses with RST: the host socket is closed. */
    int h = host_connect(e->path);
    assert_int_equal(write(h, "connect 7\n", 10), 10);
    pump(g, 200);
    struct pkt p;
    assert_int_equal(guest_recv(g, &p), 1);
    assert_int_equal(p.op, VSOCK_OP_REQUEST);
    guest_send(g, CID, 7, p.src_port, VSOCK_OP_RST, 0, NULL, 0, 0, 0);
    char buf[16];
    assert_int_equal(read_timeout(h, buf, sizeof(buf)), 0);
    close(h);
    /* Garbage instead of a command: closed, nothing reaches the guest. */
    h = host_connect(e->path);
    assert_int_equal(write(h, "HELLO 7\n", 8), 8);
    pump(g, 200);
    assert_int_equal(read_timeout(h, buf, sizeof(buf)), 0);
    assert_int_equal(guest_recv(g, &p), 0);
    close(h);
    h = host_connect(e->path);
    assert_int_equal(write(h, "CONNECT 99999999999\n", 20), 20);
    pump(g, 200);
    assert_int_equal(read_timeout(h, buf, sizeof(buf)), 0);
    close(h);
    teardown_vsock(e);
}

static void test_guest_initiated_and_credit(void **state)
{
    struct vs_env *e = setup_vsock();
    struct fake_guest *g = &e->g;
    char lpath[160];
    snprintf(lpath, sizeof(lpath), "%s_1234", e->path);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, lpath);
    assert_int_equal(bind(l, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(listen(l, 4), 0);

    /* The guest offers only 100 bytes of receive buffer. */
    guest_send(g, CID, 5000, 1234, VSOCK_OP_REQUEST, 0, NULL, 0, 100, 0);
    struct pkt p;
    assert_int_equal(guest_recv(g, &p), 1);
    assert_int_equal(p.op, VSOCK_OP_RESPONSE);
    assert_int_equal(p.src_port, 1234);
    assert_int_equal(p.dst_port, 5000);
    int h = accept(l, NULL, NULL);
    assert_true(h >= 0);

    guest_send(g, CID, 5000, 1234, VSOCK_OP_RW, 0, "ping", 4, 100, 0);
    char buf[512] = { 0 };
    assert_int_equal(read_timeout(h, buf, sizeof(buf)), 4);
    assert_string_equal(buf, "ping");

    memset(buf, 'x', 300);
    assert_int_equal(write(h, buf, 300), 300);
    pump(g, 200);
    uint32_t got = 0;
    while (guest_recv(g, &p)) {
        assert_int_equal(p.op, VSOCK_OP_RW);
        got += p.len;
    }
    assert_int_equal(got, 100); /* no more than the credit */
    /* The guest consumed them: credit update, 100 more flow. */
    guest_send(g, CID, 5000, 1234, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, 100, 100);
    pump(g, 100);
    while (guest_recv(g, &p))
        got += p.len;
    assert_int_equal(got, 200);
    /* A credit request is answered with our counters. */
    guest_send(g, CID, 5000, 1234, VSOCK_OP_CREDIT_REQUEST, 0, NULL, 0, 100, 200);
    pump(g, 100);
    int saw_update = 0;
    while (guest_recv(g, &p)) {
        if (p.op == VSOCK_OP_CREDIT_UPDATE) {
            saw_update = 1;
            assert_int_equal(p.fwd_cnt, 4);
            assert_int_equal(p.buf_alloc, VSOCK_CONN_BUF);
        } else {
            got += p.len;
        }
    }
    assert_true(saw_update);
    assert_int_equal(got, 300);

    /* Host closes: the guest is told the host will send no more. */
    close(h);
    pump(g, 200);
    assert_int_equal(guest_recv(g, &p), 1);
    assert_int_equal(p.op, VSOCK_OP_SHUTDOWN);
    assert_true(p.flags & VSOCK_SHUTDOWN_SEND);
    close(l);
    unlink(lpath);
    teardown_vsock(e);
}

static void test_hostile_packets(void **state)
{
    struct vs_env *e = setup_vsock();
    struct fake_guest *g = &e->g;
    struct pkt p;
    /* Nobody listens on <uds>_77: refused. */
    guest_send(g, CID, 6000, 77, VSOCK_OP_REQUEST, 0, NULL, 0, 4096, 0);
    assert_int_equal(guest_recv(g, &p), 1);
    assert_int_equal(p.op, VSOCK_OP_RST);
    assert_int_equal(p.dst_port, 6000);
    /* Data for a connection that does not exist: reset. */
    guest_send(g, CID, 6001, 78, VSOCK_OP_RW, 0, "zz", 2, 4096, 0);
    assert_int_equal(guest_recv(g, &p), 1);
    assert_int_equal(p.op, VSOCK_OP_RST);
    /* A reset for one that does not exist: nothing. A spoofed source CID: dropped. */
    guest_send(g, CID, 6002, 79, VSOCK_OP_RST, 0, NULL, 0, 0, 0);
    guest_send(g, CID + 1, 6003, 80, VSOCK_OP_REQUEST, 0, NULL, 0, 4096, 0);
    assert_int_equal(guest_recv(g, &p), 0);
    /* A header shorter than 44 bytes: consumed, ignored. */
    uint64_t tiny = fake_alloc(g, 8, 8);
    struct fake_buf b = { tiny, 8, false };
    add_chain(g, 1, &b, 1);
    kick(g, 1);
    assert_int_equal(guest_recv(g, &p), 0);
    assert_false(reg_read(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);

    /* A length larger than the payload: the connection is reset. */
    char lpath[160];
    snprintf(lpath, sizeof(lpath), "%s_90", e->path);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, lpath);
    assert_int_equal(bind(l, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(listen(l, 4), 0);
    guest_send(g, CID, 7000, 90, VSOCK_OP_REQUEST, 0, NULL, 0, 4096, 0);
    assert_int_equal(guest_recv(g, &p), 1);
    assert_int_equal(p.op, VSOCK_OP_RESPONSE);
    int h = accept(l, NULL, NULL);
    uint64_t hdr = fake_alloc(g, VSOCK_HDR_SIZE + 4, 8);
    uint8_t *ph = gpa_ptr(g, hdr);
    put_le64(ph + VSOCK_OFF_SRC_CID, CID);
    put_le64(ph + VSOCK_OFF_DST_CID, VSOCK_HOST_CID);
    put_le32(ph + VSOCK_OFF_SRC_PORT, 7000);
    put_le32(ph + VSOCK_OFF_DST_PORT, 90);
    put_le32(ph + VSOCK_OFF_LEN, 1000);
    put_le16(ph + VSOCK_OFF_TYPE, VSOCK_TYPE_STREAM);
    put_le16(ph + VSOCK_OFF_OP, VSOCK_OP_RW);
    struct fake_buf lie = { hdr, VSOCK_HDR_SIZE + 4, false };
    add_chain(g, 1, &lie, 1);
    kick(g, 1);
    assert_int_equal(guest_recv(g, &p), 1);
    assert_int_equal(p.op, VSOCK_OP_RST);
    char buf[8];
    assert_int_equal(read_timeout(h, buf, sizeof(buf)), 0);
    close(h);
    close(l);
    unlink(lpath);
    teardown_vsock(e);
}

static void test_constructor_checks(void **state)
{
    struct virtio_dev *dev;
    struct berth_error err = { 0 };
    assert_int_equal(virtio_vsock_new(2, "/tmp/x.sock", &dev, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "reserved"));
    char dir[] = "/tmp/berth-test-vsock-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/v.sock", dir);
    /* A stale socket file is replaced; the device removes its socket when freed. */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, path);
    assert_int_equal(bind(s, (struct sockaddr *) &sa, sizeof(sa)), 0);
    close(s);
    assert_int_equal(virtio_vsock_new(3, path, &dev, NULL), 0);
    /* A live one is not. */
    struct virtio_dev *dev2;
    berth_error_clear(&err);
    assert_int_equal(virtio_vsock_new(4, path, &dev2, &err), -EADDRINUSE);
    virtio_dev_free(dev);
    assert_int_equal(access(path, F_OK), -1);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_initiated),
        cmocka_unit_test(test_host_connect_refused_or_bad),
        cmocka_unit_test(test_guest_initiated_and_credit),
        cmocka_unit_test(test_hostile_packets),
        cmocka_unit_test(test_constructor_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
