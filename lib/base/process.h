/* Running helper programs (mkfs, hooks) and waiting for children. */
#pragma once

#include <sys/types.h>

#include "base/error.h"

/* waitpid with EINTR retry; *ret_status gets the exit code, or 128+signal for a killed child. */
int proc_wait(pid_t pid, int *ret_status);

/* Runs argv (PATH searched), stdin from /dev/null, waits. Non-zero exit is -EIO with
 * "argv[0] exited with status N" (plus the first line of its stderr) in err. */
int proc_run(char *const argv[], struct berth_error *err);

/* Closes every fd >= from except those listed in keep (for CVE-2024-21626-style leak hygiene). */
int proc_close_fds_from(int from, const int *keep, size_t n_keep);

/* Path of a helper binary shipped with berth (berth-agent, berth-vmm, berth-monitor): $BERTH_AGENT,
 * $BERTH_VMM, $BERTH_MONITOR (the name without "berth-", upper case) when set, else installed
 * beside the running binary, else the build tree's src/<name>/<name>. 0 when found. */
int proc_find_sibling_binary(const char *name, char *buf, size_t cap);
