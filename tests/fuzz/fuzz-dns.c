/* DNS packet parsing as the resolver sees it: queries from workloads and replies from upstream. */
#include <stddef.h>
#include <stdint.h>

#include "net/dns-packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dns_question q;
    if (dns_parse_query(data, size, &q) == 0) {
        uint8_t out[1024];
        size_t len;
        uint32_t ip = 0x0a590002;
        dns_build_reply(&q, 0, &ip, 1, 5, out, sizeof(out), &len);
    } else {
        uint8_t out[64];
        size_t len;
        dns_build_error(data, size, 1, out, sizeof(out), &len);
    }
    uint16_t id;
    int rcode;
    uint32_t ips[8];
    size_t n;
    dns_parse_reply(data, size, &id, &rcode, ips, 8, &n);
    return 0;
}
