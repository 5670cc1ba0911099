/* berth network connect|disconnect for containers: join or leave a network while the container
 * runs (plumbed into its live network namespace, /etc/hosts and /etc/resolv.conf rewritten), and
 * record the change in its spec so that a restart rejoins the same networks. */
#pragma once

#include "base/error.h"
#include "containers/containers.h"

/* network: a berth network name ("berth": the default one). A running container gets the next
 * interface (eth<N>) at once; a created or exited one only has its record changed. A container on
 * "none" moves to the network; "host" containers are refused, as is a network it is already on. */
int ctr_network_connect(struct store *s, struct ctr_record *rec, const char *network, struct berth_error *err);
/* Takes the container off network (its interface, address and the ports published there). Off its
 * last network a container keeps loopback only ("none"). */
int ctr_network_disconnect(struct store *s, struct ctr_record *rec, const char *network, struct berth_error *err);
