/* DNS messages (RFC 1035) as far as berth's resolver needs them: parse a query's question,
 * build an authoritative reply with A records, build a query and read A answers (tests, probes).
 * Every input is a hostile network packet: all offsets are bounds-checked, names are capped at
 * 255 bytes and compression pointers may only point backwards (no loops). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define DNS_TYPE_A 1
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_FORMERR 1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP 4
#define DNS_RCODE_REFUSED 5
#define DNS_NAME_MAX 255
#define DNS_HEADER_LEN 12

struct dns_question {
    uint16_t id;
    uint16_t flags;              /* the query's flags (RD is echoed) */
    char name[DNS_NAME_MAX + 1]; /* dotted, lower-case, no trailing dot ("" for the root) */
    uint16_t qtype, qclass;
    size_t question_end;         /* offset just past the question */
};

/* Parses a standard query with exactly one question. -EBADMSG for malformed input, -ENOTSUP for
 * responses, other opcodes or several questions. */
int dns_parse_query(const uint8_t *msg, size_t len, struct dns_question *ret);

/* Builds a reply to q (the question is echoed from its parsed form): AA, RA, RD from the query,
 * rcode, and one A record per address (host byte order) with ttl. */
int dns_build_reply(const struct dns_question *q, int rcode, const uint32_t *ips, size_t n_ips, uint32_t ttl,
                    uint8_t *out, size_t cap, size_t *ret_len);

/* An error reply that echoes only the header (for messages whose question cannot be parsed). */
int dns_build_error(const uint8_t *msg, size_t len, int rcode, uint8_t *out, size_t cap, size_t *ret_len);

/* A recursive query for name/qtype. */
int dns_build_query(uint16_t id, const char *name, uint16_t qtype, uint8_t *out, size_t cap, size_t *ret_len);

/* Reads a response: id, rcode and up to max A addresses from its answer section. */
int dns_parse_reply(const uint8_t *msg, size_t len, uint16_t *ret_id, int *ret_rcode, uint32_t *ips, size_t max,
                    size_t *ret_n);

/* Reads a possibly compressed name at *off; advances *off past it in the message. */
int dns_read_name(const uint8_t *msg, size_t len, size_t *off, char out[DNS_NAME_MAX + 1]);
