#include "net/dhcp-packet.h"

#include <errno.h>
#include <string.h>

static const uint8_t cookie[4] = { 99, 130, 83, 99 };

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

int dhcp_parse_request(const uint8_t *pkt, size_t len, struct dhcp_request *ret)
{
    if (len < DHCP_FIXED_LEN)
        return -EBADMSG;
    if (pkt[0] != 1)
        return -ENOTSUP; /* BOOTREPLY */
    if (pkt[1] != 1 || pkt[2] != 6)
        return -ENOTSUP; /* only Ethernet addresses */
    if (memcmp(pkt + 236, cookie, 4))
        return -EBADMSG;
    struct dhcp_request r;
    memset(&r, 0, sizeof(r));
    r.xid = get32(pkt + 4);
    r.flags = (uint16_t) (pkt[10] << 8 | pkt[11]);
    r.ciaddr = get32(pkt + 12);
    memcpy(r.mac, pkt + 28, 6);
    size_t off = DHCP_FIXED_LEN;
    while (off < len) {
        uint8_t code = pkt[off++];
        if (code == 0)
            continue;
        if (code == 255)
            break;
        if (off >= len)
            return -EBADMSG;
        size_t olen = pkt[off++];
        if (off + olen > len)
            return -EBADMSG;
        const uint8_t *v = pkt + off;
        switch (code) {
        case 53:
            if (olen != 1)
                return -EBADMSG;
            r.type = v[0];
            break;
        case 50:
            if (olen != 4)
                return -EBADMSG;
            r.requested_ip = get32(v);
            break;
        case 54:
            if (olen != 4)
                return -EBADMSG;
            r.server_id = get32(v);
            break;
        default:
            break;
        }
        off += olen;
    }
    if (r.type < DHCP_DISCOVER || r.type > DHCP_INFORM)
        return -EBADMSG;
    *ret = r;
    return 0;
}

struct writer {
    uint8_t *buf;
    size_t cap, off;
    int overflow;
};

static void opt(struct writer *w, uint8_t code, const void *data, size_t len)
{
    if (len > 255 || w->off + 2 + len > w->cap) {
        w->overflow = 1;
        return;
    }
    w->buf[w->off++] = code;
    w->buf[w->off++] = (uint8_t) len;
    memcpy(w->buf + w->off, data, len);
    w->off += len;
}

static void opt32(struct writer *w, uint8_t code, uint32_t v)
{
    uint8_t b[4];
    put32(b, v);
    opt(w, code, b, 4);
}

int dhcp_build_reply(const struct dhcp_request *req, const struct dhcp_reply_params *p, uint8_t *out, size_t cap)
{
    if (cap < 576)
        return -ENOBUFS;
    memset(out, 0, cap);
    out[0] = 2; /* BOOTREPLY */
    out[1] = 1;
    out[2] = 6;
    put32(out + 4, req->xid);
    out[10] = (uint8_t) (req->flags >> 8);
    out[11] = (uint8_t) req->flags;
    if (p->type != DHCP_NAK) {
        put32(out + 16, p->yiaddr);
        put32(out + 20, p->server);
    }
    memcpy(out + 28, req->mac, 6);
    memcpy(out + 236, cookie, 4);
    struct writer w = { out, cap, DHCP_FIXED_LEN, 0 };
    uint8_t type = (uint8_t) p->type;
    opt(&w, 53, &type, 1);
    opt32(&w, 54, p->server);
    if (p->type != DHCP_NAK) {
        opt32(&w, 51, p->lease_seconds);
        opt32(&w, 58, p->lease_seconds / 2);
        opt32(&w, 59, p->lease_seconds / 8 * 7);
        opt32(&w, 1, p->netmask);
        if (p->router)
            opt32(&w, 3, p->router);
        if (p->dns)
            opt32(&w, 6, p->dns);
        if (p->domain)
            opt(&w, 15, p->domain, strlen(p->domain));
        if (p->hostname)
            opt(&w, 12, p->hostname, strlen(p->hostname));
        if (p->mtu) {
            uint8_t m[2] = { (uint8_t) (p->mtu >> 8), (uint8_t) p->mtu };
            opt(&w, 26, m, 2);
        }
    }
    if (w.overflow || w.off + 1 > cap)
        return -ENOBUFS;
    out[w.off++] = 255;
    /* Pad to the minimum BOOTP size some clients insist on. */
    return (int) (w.off < 300 ? 300 : w.off);
}

int dhcp_build_request(int type, uint32_t xid, const uint8_t mac[6], uint32_t requested_ip, uint8_t *out, size_t cap)
{
    if (cap < 300)
        return -ENOBUFS;
    memset(out, 0, cap);
    out[0] = 1;
    out[1] = 1;
    out[2] = 6;
    put32(out + 4, xid);
    out[10] = 0x80; /* broadcast */
    memcpy(out + 28, mac, 6);
    memcpy(out + 236, cookie, 4);
    struct writer w = { out, cap, DHCP_FIXED_LEN, 0 };
    uint8_t t = (uint8_t) type;
    opt(&w, 53, &t, 1);
    if (requested_ip)
        opt32(&w, 50, requested_ip);
    if (w.overflow || w.off + 1 > cap)
        return -ENOBUFS;
    out[w.off++] = 255;
    return 300;
}
