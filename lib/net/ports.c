/* -p [HOSTIP:]HOSTPORT:PORT[/tcp|udp] */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/attach.h"
#include "net/cidr.h"

static int parse_port(const char *spec, const char *s, const char *what, uint16_t *ret, struct berth_error *err)
{
    char *end = NULL;
    if (!*s || *s < '0' || *s > '9')
        return berth_error_set(err, -EINVAL, "-p %s: %s '%s' is not a number", spec, what, s);
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < 1 || v > 65535)
        return berth_error_set(err, -EINVAL, "-p %s: %s '%s' must be 1..65535", spec, what, s);
    *ret = (uint16_t) v;
    return 0;
}

int net_port_parse(const char *spec, struct net_port *ret, struct berth_error *err)
{
    char buf[128];
    if (strlen(spec) >= sizeof(buf))
        return berth_error_set(err, -EINVAL, "-p %.40s...: too long", spec);
    snprintf(buf, sizeof(buf), "%s", spec);
    struct net_port p;
    memset(&p, 0, sizeof(p));
    p.proto = IPPROTO_TCP;
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = 0;
        if (!strcmp(slash + 1, "tcp"))
            p.proto = IPPROTO_TCP;
        else if (!strcmp(slash + 1, "udp"))
            p.proto = IPPROTO_UDP;
        else
            return berth_error_set(err, -EINVAL, "-p %s: protocol '%s' must be tcp or udp", spec, slash + 1);
    }
    char *parts[3];
    int n = 0;
    parts[n++] = buf;
    for (char *c = strchr(buf, ':'); c; c = strchr(c + 1, ':')) {
        if (n == 3)
            return berth_error_set(err, -EINVAL, "-p %s: expected [HOSTIP:]HOSTPORT:PORT[/tcp|udp]", spec);
        *c = 0;
        parts[n++] = c + 1;
    }
    int r;
    if (n == 1) {
        r = parse_port(spec, parts[0], "port", &p.port, err);
        p.host_port = p.port;
    } else {
        if (n == 3) {
            uint32_t ip;
            struct berth_error inner = { 0 };
            if (cidr_parse_ip(parts[0], &ip, &inner) < 0)
                return berth_error_set(err, -EINVAL, "-p %s: host address %s", spec, inner.msg);
            cidr_format_ip(ip, p.host_ip);
            if (ip == 0)
                p.host_ip[0] = 0; /* 0.0.0.0 means every address */
        }
        r = parse_port(spec, parts[n - 2], "host port", &p.host_port, err);
        if (r >= 0)
            r = parse_port(spec, parts[n - 1], "container port", &p.port, err);
    }
    if (r < 0)
        return r;
    *ret = p;
    return 0;
}
