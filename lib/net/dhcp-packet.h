/* DHCPv4 messages (RFC 2131, options RFC 2132) as far as berth's server needs them: read a
 * client's DISCOVER/REQUEST/RELEASE, build OFFER/ACK/NAK. Input is a hostile network packet:
 * fixed header length checked, every option bounded by the packet, overloaded fields ignored. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define DHCP_FIXED_LEN 240 /* BOOTP header + magic cookie */

enum dhcp_type {
    DHCP_DISCOVER = 1,
    DHCP_OFFER = 2,
    DHCP_REQUEST = 3,
    DHCP_DECLINE = 4,
    DHCP_ACK = 5,
    DHCP_NAK = 6,
    DHCP_RELEASE = 7,
    DHCP_INFORM = 8,
};

struct dhcp_request {
    uint32_t xid;
    uint16_t flags;
    uint8_t mac[6];
    uint32_t ciaddr;        /* host order */
    uint32_t requested_ip;  /* option 50, 0 when absent */
    uint32_t server_id;     /* option 54, 0 when absent */
    int type;               /* option 53 */
};

/* -EBADMSG for malformed packets, -ENOTSUP for non-Ethernet or replies. */
int dhcp_parse_request(const uint8_t *pkt, size_t len, struct dhcp_request *ret);

struct dhcp_reply_params {
    int type;               /* DHCP_OFFER, DHCP_ACK or DHCP_NAK */
    uint32_t yiaddr, server, netmask, router, dns; /* host order; router/dns 0 = omit */
    uint32_t lease_seconds;
    const char *domain;     /* option 15, NULL = omit */
    const char *hostname;   /* option 12, NULL = omit */
    unsigned mtu;           /* option 26, 0 = omit */
};

/* Builds the reply to req into out (at least 576 bytes); returns the length or -ENOBUFS. */
int dhcp_build_reply(const struct dhcp_request *req, const struct dhcp_reply_params *p, uint8_t *out, size_t cap);

/* A client's message, for tests: type, xid, mac, requested ip (0 = none). */
int dhcp_build_request(int type, uint32_t xid, const uint8_t mac[6], uint32_t requested_ip, uint8_t *out, size_t cap);
