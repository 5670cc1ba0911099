/* The per-network resolver: listens on the network's gateway address (UDP and TCP port 53),
 * answers A queries for the names of the network's workloads (NAME and NAME.berth) from the
 * state database, and forwards everything else to the host's resolvers (/etc/resolv.conf).
 * Internal networks get no forwarding (REFUSED). It also answers DHCP on the bridge (UDP 67) for
 * MACs that hold a lease on the network, with their leased address. It exits by itself when its network is removed
 * or the state database disappears. */
#pragma once

#include "base/error.h"

/* Runs the resolver in the calling process until the network goes away (or SIGTERM).
 * Returns 0 also when another resolver already serves the network. */
int dns_serve(const char *network, struct berth_error *err);
