/* DHCP packets: a client's DISCOVER/REQUEST parsed, replies carry the leased address and options,
 * hostile packets (short, overrunning options, wrong cookie) refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/dhcp-packet.h"

static const uint8_t mac[6] = { 0x02, 0xb7, 1, 2, 3, 4 };

static void test_round_trip(void **state)
{
    uint8_t pkt[600];
    int len = dhcp_build_request(DHCP_REQUEST, 0xdeadbeef, mac, 0x0a590007, pkt, sizeof(pkt));
    assert_true(len >= 300);
    struct dhcp_request req;
    assert_int_equal(dhcp_parse_request(pkt, (size_t) len, &req), 0);
    assert_int_equal(req.type, DHCP_REQUEST);
    assert_int_equal(req.xid, 0xdeadbeef);
    assert_int_equal(req.requested_ip, 0x0a590007);
    assert_memory_equal(req.mac, mac, 6);

    struct dhcp_reply_params p = { .type = DHCP_ACK, .yiaddr = 0x0a590007, .server = 0x0a590001,
                                   .netmask = 0xffff0000, .router = 0x0a590001, .dns = 0x0a590001,
                                   .lease_seconds = 86400, .domain = "berth", .hostname = "web", .mtu = 1500 };
    uint8_t out[1024];
    int olen = dhcp_build_reply(&req, &p, out, sizeof(out));
    assert_true(olen >= 300);
    assert_int_equal(out[0], 2);
    assert_memory_equal(out + 16, "\x0a\x59\x00\x07", 4);
    assert_memory_equal(out + 28, mac, 6);
    /* Message type ACK, then server id, as the first options. */
    assert_memory_equal(out + 240, "\x35\x01\x05\x36\x04\x0a\x59\x00\x01", 9);
    assert_non_null(memmem(out, (size_t) olen, "\x0c\x03web", 5));
    assert_int_equal(dhcp_build_reply(&req, &p, out, 100), -ENOBUFS);
    /* A reply is not a request. */
    assert_int_equal(dhcp_parse_request(out, (size_t) olen, &req), -ENOTSUP);
}

static void test_hostile(void **state)
{
    uint8_t pkt[600];
    struct dhcp_request req;
    int len = dhcp_build_request(DHCP_DISCOVER, 1, mac, 0, pkt, sizeof(pkt));
    assert_int_equal(dhcp_parse_request(pkt, 200, &req), -EBADMSG);
    /* An option whose length runs past the end. */
    pkt[243] = 50;
    pkt[244] = 200;
    assert_int_equal(dhcp_parse_request(pkt, 250, &req), -EBADMSG);
    len = dhcp_build_request(DHCP_DISCOVER, 1, mac, 0, pkt, sizeof(pkt));
    pkt[236] = 0;
    assert_int_equal(dhcp_parse_request(pkt, (size_t) len, &req), -EBADMSG);
    len = dhcp_build_request(DHCP_DISCOVER, 1, mac, 0, pkt, sizeof(pkt));
    pkt[2] = 8; /* not an Ethernet address */
    assert_int_equal(dhcp_parse_request(pkt, (size_t) len, &req), -ENOTSUP);
    /* No message type at all. */
    len = dhcp_build_request(DHCP_DISCOVER, 1, mac, 0, pkt, sizeof(pkt));
    pkt[240] = 255;
    assert_int_equal(dhcp_parse_request(pkt, (size_t) len, &req), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
