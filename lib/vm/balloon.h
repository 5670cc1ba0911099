/* berth vm balloon: the memory balloon of a running VM created with --balloon, driven through its
 * monitor's control socket: berth-vmm's JSON API (docs/berth-vmm.md) or QEMU's QMP. The target is
 * how much of the guest's memory it should give back to the host; "actual" is what its driver
 * reports holding. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "base/error.h"
#include "vm/vm.h"

/* Asks the guest to hold target_mib MiB in its balloon (0 deflates it all; at most the VM's
 * memory). *ret (may be NULL): the balloon's state, as vm_balloon_get. */
int vm_balloon_set(const struct vm_record *rec, uint64_t target_mib, json_t **ret, struct berth_error *err);

/* The balloon's state: {"target_mib", "actual_mib", "target_pages", "actual_pages", "memory_mib"},
 * from berth-vmm also "inflated_pages" and the guest's "stats". Errors: -ENODEV it has no balloon
 * (created without --balloon), -EINVAL the VM is not running. */
int vm_balloon_get(const struct vm_record *rec, json_t **ret, struct berth_error *err);

/* Called with each state vm_balloon_wait reads (for progress output). */
typedef void (*vm_balloon_progress_fn)(const json_t *state, void *userdata);

/* Waits until the balloon's actual size reaches its target, reading it as vm_balloon_get does
 * (every 100 ms): 0 with *ret (may be NULL) the last state. A guest whose actual size has not
 * changed for timeout_ms while short of the target did not follow: -ETIMEDOUT, the message naming
 * the target, the actual size and that. Errors of vm_balloon_get (the VM stopped meanwhile...). */
int vm_balloon_wait(const struct vm_record *rec, unsigned timeout_ms, vm_balloon_progress_fn progress, void *userdata,
                    json_t **ret, struct berth_error *err);
