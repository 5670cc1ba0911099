/* berth vm balloon: the memory balloon of a running VM (a VM created with --balloon, run by
 * berth-vmm), driven through the monitor's control socket (docs/berth-vmm.md). The target is how
 * much of the guest's memory it should give back to the host; "actual" is what its driver reports
 * holding. The QEMU backend has no balloon: a precise error says so. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "base/error.h"
#include "vm/vm.h"

/* Asks the guest to hold target_mib MiB in its balloon (0 deflates it all; at most the VM's
 * memory). *ret (may be NULL): the balloon's state, as vm_balloon_get. */
int vm_balloon_set(const struct vm_record *rec, uint64_t target_mib, json_t **ret, struct berth_error *err);

/* The balloon's state from the monitor's metrics: {"target_mib", "actual_mib", "target_pages",
 * "actual_pages", "inflated_pages", "stats": {...}, "memory_mib"}. Errors: -EINVAL the VM is not
 * running, -EOPNOTSUPP it runs on QEMU, -ENODEV it has no balloon (created without --balloon). */
int vm_balloon_get(const struct vm_record *rec, json_t **ret, struct berth_error *err);
