/* DNS packets: query round trip, replies with A records, hostile inputs (loops, overlong names,
 * truncation). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/dns-packet.h"

static void test_query_round_trip(void **state)
{
    uint8_t buf[512];
    size_t len;
    assert_int_equal(dns_build_query(0x1234, "Web.Berth", DNS_TYPE_A, buf, sizeof(buf), &len), 0);
    struct dns_question q;
    assert_int_equal(dns_parse_query(buf, len, &q), 0);
    assert_int_equal(q.id, 0x1234);
    assert_string_equal(q.name, "web.berth");
    assert_int_equal(q.qtype, DNS_TYPE_A);
    assert_int_equal(q.qclass, DNS_CLASS_IN);
    assert_int_equal(q.question_end, len);

    uint8_t out[512];
    size_t olen;
    uint32_t ips[2] = { 0x0a590002, 0x0a590003 };
    assert_int_equal(dns_build_reply(&q, DNS_RCODE_NOERROR, ips, 2, 5, out, sizeof(out), &olen), 0);
    uint16_t id;
    int rcode;
    uint32_t got[4];
    size_t n;
    assert_int_equal(dns_parse_reply(out, olen, &id, &rcode, got, 4, &n), 0);
    assert_int_equal(id, 0x1234);
    assert_int_equal(rcode, 0);
    assert_int_equal(n, 2);
    assert_int_equal(got[1], 0x0a590003);
    /* Flags: QR, AA, RD echoed. */
    assert_int_equal(out[2] & 0x85, 0x85);

    assert_int_equal(dns_build_reply(&q, DNS_RCODE_NXDOMAIN, NULL, 0, 5, out, sizeof(out), &olen), 0);
    assert_int_equal(dns_parse_reply(out, olen, &id, &rcode, got, 4, &n), 0);
    assert_int_equal(rcode, DNS_RCODE_NXDOMAIN);
    assert_int_equal(n, 0);
    /* A reply is not a query. */
    assert_int_equal(dns_parse_query(out, olen, &q), -ENOTSUP);
    /* Too small an output buffer is an error, not an overflow. */
    assert_int_equal(dns_build_reply(&q, 0, ips, 2, 5, out, 40, &olen), -ENOBUFS);
}

static void test_hostile_names(void **state)
{
    struct dns_question q;
    /* A compression pointer to itself. */
    uint8_t loop[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1 };
    assert_int_equal(dns_parse_query(loop, sizeof(loop), &q), -EBADMSG);
    /* A label running past the end. */
    uint8_t past[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 'a', 'b' };
    assert_int_equal(dns_parse_query(past, sizeof(past), &q), -EBADMSG);
    /* Missing type/class. */
    uint8_t shortq[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0 };
    assert_int_equal(dns_parse_query(shortq, sizeof(shortq), &q), -EBADMSG);
    /* A dot inside a label would be ambiguous. */
    uint8_t dot[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'a', '.', 'b', 0, 0, 1, 0, 1 };
    assert_int_equal(dns_parse_query(dot, sizeof(dot), &q), -EBADMSG);
    /* Names longer than 255 bytes. */
    uint8_t big[12 + 5 * 64 + 5];
    memset(big, 0, sizeof(big));
    big[5] = 1;
    size_t off = 12;
    for (int i = 0; i < 5; i++) {
        big[off++] = 63;
        memset(big + off, 'x', 63);
        off += 63;
    }
    big[off++] = 0;
    assert_int_equal(dns_parse_query(big, off + 4, &q), -EBADMSG);
    /* Two questions, header only. */
    uint8_t two[] = { 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0 };
    assert_int_equal(dns_parse_query(two, sizeof(two), &q), -ENOTSUP);
    assert_int_equal(dns_parse_query(two, 5, &q), -EBADMSG);
    uint8_t out[64];
    size_t olen;
    assert_int_equal(dns_build_error(two, sizeof(two), DNS_RCODE_FORMERR, out, sizeof(out), &olen), 0);
    assert_int_equal(olen, 12);
    assert_int_equal(out[3] & 0xf, DNS_RCODE_FORMERR);
}

static void test_backward_pointer_ok(void **state)
{
    /* Answer whose name points back at the question: the normal compressed form. */
    uint8_t msg[] = { 0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1,
                      0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 9 };
    uint16_t id;
    int rcode;
    uint32_t ip;
    size_t n;
    assert_int_equal(dns_parse_reply(msg, sizeof(msg), &id, &rcode, &ip, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ip, 0x0a000009);
    /* Truncated rdata. */
    assert_int_equal(dns_parse_reply(msg, sizeof(msg) - 1, &id, &rcode, &ip, 1, &n), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_round_trip),
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_backward_pointer_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
