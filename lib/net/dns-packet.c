#include "net/dns-packet.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

int dns_read_name(const uint8_t *msg, size_t len, size_t *off, char out[DNS_NAME_MAX + 1])
{
    size_t pos = *off, outlen = 0, end = 0;
    bool jumped = false;
    int hops = 0;
    for (;;) {
        if (pos >= len)
            return -EBADMSG;
        uint8_t l = msg[pos];
        if ((l & 0xc0) == 0xc0) {
            if (pos + 1 >= len)
                return -EBADMSG;
            size_t target = (size_t) (l & 0x3f) << 8 | msg[pos + 1];
            /* Only strictly backwards, and a bounded number of times: no loops. */
            if (target >= pos || ++hops > 32)
                return -EBADMSG;
            if (!jumped)
                end = pos + 2;
            jumped = true;
            pos = target;
            continue;
        }
        if (l & 0xc0)
            return -EBADMSG; /* 0x40/0x80: extended label types, unsupported */
        pos++;
        if (l == 0)
            break;
        if (pos + l > len)
            return -EBADMSG;
        if (outlen + (outlen ? 1 : 0) + l > DNS_NAME_MAX)
            return -EBADMSG;
        if (outlen)
            out[outlen++] = '.';
        for (size_t i = 0; i < l; i++) {
            char c = (char) msg[pos + i];
            /* Dots or NULs inside a label would make the dotted form ambiguous. */
            if (c == '.' || c == 0)
                return -EBADMSG;
            out[outlen++] = (char) tolower((unsigned char) c);
        }
        pos += l;
    }
    out[outlen] = 0;
    *off = jumped ? end : pos;
    return 0;
}

int dns_parse_query(const uint8_t *msg, size_t len, struct dns_question *ret)
{
    if (len < DNS_HEADER_LEN)
        return -EBADMSG;
    uint16_t flags = get16(msg + 2);
    if (flags & 0x8000)
        return -ENOTSUP; /* a response */
    if (((flags >> 11) & 0xf) != 0)
        return -ENOTSUP; /* not a standard query */
    if (get16(msg + 4) != 1)
        return -ENOTSUP;
    struct dns_question q;
    memset(&q, 0, sizeof(q));
    q.id = get16(msg);
    q.flags = flags;
    size_t off = DNS_HEADER_LEN;
    int r = dns_read_name(msg, len, &off, q.name);
    if (r < 0)
        return r;
    if (off + 4 > len)
        return -EBADMSG;
    q.qtype = get16(msg + off);
    q.qclass = get16(msg + off + 2);
    q.question_end = off + 4;
    *ret = q;
    return 0;
}

static int put_name(const char *name, uint8_t *out, size_t cap, size_t *off)
{
    size_t pos = *off;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t) (dot - p) : strlen(p);
        if (l == 0 || l > 63 || pos + 1 + l > cap)
            return -EINVAL;
        out[pos++] = (uint8_t) l;
        memcpy(out + pos, p, l);
        pos += l;
        p += l;
        if (*p == '.')
            p++;
    }
    if (pos + 1 > cap)
        return -ENOBUFS;
    out[pos++] = 0;
    *off = pos;
    return 0;
}

int dns_build_reply(const struct dns_question *q, int rcode, const uint32_t *ips, size_t n_ips, uint32_t ttl,
                    uint8_t *out, size_t cap, size_t *ret_len)
{
    if (cap < DNS_HEADER_LEN)
        return -ENOBUFS;
    memset(out, 0, DNS_HEADER_LEN);
    put16(out, q->id);
    /* QR, AA, RD echoed, RA. */
    put16(out + 2, (uint16_t) (0x8000 | 0x0400 | (q->flags & 0x0100) | 0x0080 | (rcode & 0xf)));
    put16(out + 4, 1);
    put16(out + 6, (uint16_t) n_ips);
    size_t off = DNS_HEADER_LEN;
    int r = put_name(q->name, out, cap, &off);
    if (r < 0)
        return r;
    if (off + 4 > cap)
        return -ENOBUFS;
    put16(out + off, q->qtype);
    put16(out + off + 2, q->qclass);
    off += 4;
    for (size_t i = 0; i < n_ips; i++) {
        if (off + 16 > cap)
            return -ENOBUFS;
        put16(out + off, 0xc000 | DNS_HEADER_LEN); /* the question's name */
        put16(out + off + 2, DNS_TYPE_A);
        put16(out + off + 4, DNS_CLASS_IN);
        put16(out + off + 6, (uint16_t) (ttl >> 16));
        put16(out + off + 8, (uint16_t) ttl);
        put16(out + off + 10, 4);
        out[off + 12] = (uint8_t) (ips[i] >> 24);
        out[off + 13] = (uint8_t) (ips[i] >> 16);
        out[off + 14] = (uint8_t) (ips[i] >> 8);
        out[off + 15] = (uint8_t) ips[i];
        off += 16;
    }
    *ret_len = off;
    return 0;
}

int dns_build_error(const uint8_t *msg, size_t len, int rcode, uint8_t *out, size_t cap, size_t *ret_len)
{
    if (len < 2 || cap < DNS_HEADER_LEN)
        return -EBADMSG;
    memset(out, 0, DNS_HEADER_LEN);
    out[0] = msg[0];
    out[1] = msg[1];
    uint16_t flags = len >= 4 ? get16(msg + 2) : 0;
    put16(out + 2, (uint16_t) (0x8000 | (flags & 0x7900) | 0x0080 | (rcode & 0xf)));
    *ret_len = DNS_HEADER_LEN;
    return 0;
}

int dns_build_query(uint16_t id, const char *name, uint16_t qtype, uint8_t *out, size_t cap, size_t *ret_len)
{
    if (cap < DNS_HEADER_LEN)
        return -ENOBUFS;
    memset(out, 0, DNS_HEADER_LEN);
    put16(out, id);
    put16(out + 2, 0x0100); /* RD */
    put16(out + 4, 1);
    size_t off = DNS_HEADER_LEN;
    int r = put_name(name, out, cap, &off);
    if (r < 0)
        return r;
    if (off + 4 > cap)
        return -ENOBUFS;
    put16(out + off, qtype);
    put16(out + off + 2, DNS_CLASS_IN);
    *ret_len = off + 4;
    return 0;
}

int dns_parse_reply(const uint8_t *msg, size_t len, uint16_t *ret_id, int *ret_rcode, uint32_t *ips, size_t max,
                    size_t *ret_n)
{
    if (len < DNS_HEADER_LEN)
        return -EBADMSG;
    uint16_t flags = get16(msg + 2);
    if (!(flags & 0x8000))
        return -EBADMSG;
    unsigned qd = get16(msg + 4), an = get16(msg + 6);
    size_t off = DNS_HEADER_LEN;
    char name[DNS_NAME_MAX + 1];
    for (unsigned i = 0; i < qd; i++) {
        int r = dns_read_name(msg, len, &off, name);
        if (r < 0)
            return r;
        if (off + 4 > len)
            return -EBADMSG;
        off += 4;
    }
    size_t n = 0;
    for (unsigned i = 0; i < an; i++) {
        int r = dns_read_name(msg, len, &off, name);
        if (r < 0)
            return r;
        if (off + 10 > len)
            return -EBADMSG;
        uint16_t type = get16(msg + off), cls = get16(msg + off + 2), rdlen = get16(msg + off + 8);
        off += 10;
        if (off + rdlen > len)
            return -EBADMSG;
        if (type == DNS_TYPE_A && cls == DNS_CLASS_IN && rdlen == 4 && n < max)
            ips[n++] = (uint32_t) msg[off] << 24 | (uint32_t) msg[off + 1] << 16 | (uint32_t) msg[off + 2] << 8 |
                       msg[off + 3];
        off += rdlen;
    }
    *ret_id = get16(msg);
    *ret_rcode = flags & 0xf;
    *ret_n = n;
    return 0;
}
