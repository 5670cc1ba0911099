/* IPv4 addresses and CIDR prefixes, host byte order. */
#pragma once

#include <netinet/in.h>
#include <stdint.h>

#include "base/error.h"

struct net_cidr {
    uint32_t addr;      /* network address (host bits cleared) */
    unsigned prefix;    /* 0..32 */
};

/* "a.b.c.d" strictly (no shorthand forms that inet_aton would accept). */
int cidr_parse_ip(const char *s, uint32_t *ret, struct berth_error *err);
/* "a.b.c.d/N"; host bits must be zero ("10.89.0.5/16" is refused with the network it meant). */
int cidr_parse(const char *s, struct net_cidr *ret, struct berth_error *err);

uint32_t cidr_mask(unsigned prefix);
/* Formats into buf (INET_ADDRSTRLEN). Returns buf. */
char *cidr_format_ip(uint32_t ip, char buf[static INET_ADDRSTRLEN]);
/* "a.b.c.d/N" into buf of at least 19 bytes. */
char *cidr_format(const struct net_cidr *c, char *buf, size_t len);

int cidr_contains(const struct net_cidr *c, uint32_t ip);
int cidr_overlaps(const struct net_cidr *a, const struct net_cidr *b);
/* First and last assignable host (network and broadcast excluded; /31 and /32 refused earlier). */
uint32_t cidr_first_host(const struct net_cidr *c);
uint32_t cidr_last_host(const struct net_cidr *c);
