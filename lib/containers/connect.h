/* berth network connect|disconnect for containers: join or leave a network while the container
 * runs (plumbed into its live network namespace, /etc/hosts and /etc/resolv.conf rewritten), and
 * record the change in its spec so that a restart rejoins the same networks. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"
#include "containers/containers.h"

/* network: a berth network name ("berth": the default one). A running container gets the next
 * interface (eth<N>) at once; a created or exited one only has its record changed. A container on
 * "none" moves to the network; "host" containers are refused, as is a network it is already on. */
struct ctr_network_opts {
    const char *ip;             /* a static address on the network, NULL: the next free one */
    const char *const *aliases; /* extra DNS names there (container name rules) */
    size_t n_aliases;
};

/* The options a container was connected with (spec "network_opts", per network) as JSON for the
 * spec, and back: ctr_network_opts_get returns the object for network (NULL when none) and
 * fills o from it; o->aliases then points into a malloc'ed array the caller frees (*ret_free). */
int ctr_network_opts_check(const struct ctr_network_opts *o, struct berth_error *err);
json_t *ctr_network_opts_json(const struct ctr_network_opts *o);
int ctr_network_opts_get(const json_t *spec, const char *network, struct ctr_network_opts *o, const char ***ret_free);

/* Reserves the container's name, and the addresses and aliases its spec asks for (run/create --ip and
 * --network-alias, network connect --ip and --alias; net_reserve), on every network it names: at create, so that no other
 * workload is given them automatically before it starts. On failure nothing stays reserved.
 * Released by ctr_remove (net_unreserve). */
int ctr_network_reserve(const struct ctr_record *rec, struct berth_error *err);

/* opts may be NULL. Its address and aliases are recorded with the network, so restarts keep them
 * (a running container gets them at once; errors such as a taken address then leave it unchanged). */
int ctr_network_connect(struct store *s, struct ctr_record *rec, const char *network,
                        const struct ctr_network_opts *opts, struct berth_error *err);
/* Takes the container off network (its interface, address and the ports published there). Off its
 * last network a container keeps loopback only ("none"). */
int ctr_network_disconnect(struct store *s, struct ctr_record *rec, const char *network, struct berth_error *err);
