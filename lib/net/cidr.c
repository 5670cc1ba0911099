#include "net/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cidr_parse_ip(const char *s, uint32_t *ret, struct berth_error *err)
{
    unsigned part[4];
    int n = 0;
    const char *p = s;
    for (int i = 0; i < 4; i++) {
        if (*p < '0' || *p > '9')
            return berth_error_set(err, -EINVAL, "'%s' is not an IPv4 address (a.b.c.d)", s);
        unsigned v = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (unsigned) (*p - '0');
            if (++digits > 3 || v > 255)
                return berth_error_set(err, -EINVAL, "'%s' is not an IPv4 address (octet out of range)", s);
            p++;
        }
        part[n++] = v;
        if (i < 3) {
            if (*p != '.')
                return berth_error_set(err, -EINVAL, "'%s' is not an IPv4 address (a.b.c.d)", s);
            p++;
        }
    }
    if (*p)
        return berth_error_set(err, -EINVAL, "'%s' is not an IPv4 address (trailing '%s')", s, p);
    *ret = part[0] << 24 | part[1] << 16 | part[2] << 8 | part[3];
    return 0;
}

uint32_t cidr_mask(unsigned prefix)
{
    return prefix == 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
}

int cidr_parse(const char *s, struct net_cidr *ret, struct berth_error *err)
{
    const char *slash = strchr(s, '/');
    if (!slash)
        return berth_error_set(err, -EINVAL, "'%s' is not a CIDR subnet (expected a.b.c.d/N)", s);
    char ip[INET_ADDRSTRLEN];
    size_t len = (size_t) (slash - s);
    if (len >= sizeof(ip))
        return berth_error_set(err, -EINVAL, "'%s' is not a CIDR subnet (expected a.b.c.d/N)", s);
    memcpy(ip, s, len);
    ip[len] = 0;
    uint32_t a;
    struct berth_error inner = { 0 };
    if (cidr_parse_ip(ip, &a, &inner) < 0)
        return berth_error_set(err, -EINVAL, "'%s': %s", s, inner.msg);
    const char *pfx = slash + 1;
    char *end = NULL;
    errno = 0;
    long p = strtol(pfx, &end, 10);
    if (*pfx < '0' || *pfx > '9' || *end || errno || p < 0 || p > 32 || (pfx[0] == '0' && pfx[1]))
        return berth_error_set(err, -EINVAL, "'%s': prefix length must be 0..32", s);
    uint32_t m = cidr_mask((unsigned) p);
    if (a & ~m) {
        char net[INET_ADDRSTRLEN];
        return berth_error_set(err, -EINVAL, "'%s' has host bits set (did you mean %s/%ld?)", s,
                               cidr_format_ip(a & m, net), p);
    }
    ret->addr = a;
    ret->prefix = (unsigned) p;
    return 0;
}

char *cidr_format_ip(uint32_t ip, char buf[static INET_ADDRSTRLEN])
{
    snprintf(buf, INET_ADDRSTRLEN, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
    return buf;
}

char *cidr_format(const struct net_cidr *c, char *buf, size_t len)
{
    char ip[INET_ADDRSTRLEN];
    snprintf(buf, len, "%s/%u", cidr_format_ip(c->addr, ip), c->prefix);
    return buf;
}

int cidr_contains(const struct net_cidr *c, uint32_t ip)
{
    return (ip & cidr_mask(c->prefix)) == c->addr;
}

int cidr_overlaps(const struct net_cidr *a, const struct net_cidr *b)
{
    unsigned p = a->prefix < b->prefix ? a->prefix : b->prefix;
    uint32_t m = cidr_mask(p);
    return (a->addr & m) == (b->addr & m);
}

uint32_t cidr_first_host(const struct net_cidr *c)
{
    return c->addr + 1;
}

uint32_t cidr_last_host(const struct net_cidr *c)
{
    return (c->addr | ~cidr_mask(c->prefix)) - 1;
}
