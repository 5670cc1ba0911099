/* berth network connect|disconnect for VMs. A VM has one network interface, made at each start from
 * its record; neither berth-vmm nor berth's QEMU command line can hot-plug one, so only a VM that
 * does not run can change networks: its record changes and the next start applies it. A running
 * VM is refused with what to do instead. */
#pragma once

#include <stddef.h>

#include "base/error.h"
#include "vm/vm.h"

struct store;

/* Puts a stopped VM without a network (--network none) on network, with an address (ip, NULL:
 * the next free one at each start, reserved until rm or disconnect) and aliases (checked against
 * the network now). -EBUSY for a running VM, -EEXIST when it is on a network already (a VM has
 * one). */
int vm_network_connect(struct store *s, struct vm_record *rec, const char *network, const char *ip,
                       const char *const *aliases, size_t n_aliases, struct berth_error *err);
/* Takes a stopped VM off its network: its address reservation, aliases and published ports go
 * (the ports were on that network); it starts without a network interface. -EBUSY while it runs,
 * -ENOENT when it is not on network. */
int vm_network_disconnect(struct store *s, struct vm_record *rec, const char *network, struct berth_error *err);
