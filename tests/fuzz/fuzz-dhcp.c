/* DHCP request parsing and the reply built from it, as the resolver process sees packets from
 * workloads on the bridge. */
#include <stddef.h>
#include <stdint.h>

#include "net/dhcp-packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dhcp_request req;
    if (dhcp_parse_request(data, size, &req) == 0) {
        struct dhcp_reply_params p = { .type = DHCP_OFFER, .yiaddr = 0x0a590002, .server = 0x0a590001,
                                       .netmask = 0xffff0000, .lease_seconds = 60, .hostname = "x" };
        uint8_t out[1024];
        dhcp_build_reply(&req, &p, out, sizeof(out));
    }
    return 0;
}
