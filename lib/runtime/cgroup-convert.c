/* cgroup v1 <-> v2 value translation: the spec speaks v1 (shares, blkio weight, memory+swap),
 * v2 files want other units. Pure functions, unit-tested. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "runtime/cgroup-internal.h"

uint64_t cgroup_shares_to_weight(uint64_t shares)
{
    if (shares == 0)
        return 0;
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    /* Linear map of [2, 262144] onto [1, 10000], the same one runc and crun use, so that a
     * container gets the same weight whichever runtime started it. */
    return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t cgroup_blkio_to_io_weight(uint64_t weight)
{
    if (weight == 0)
        return 0;
    if (weight < 10)
        weight = 10;
    if (weight > 1000)
        weight = 1000;
    return 1 + ((weight - 10) * 9999) / 990;
}

int cgroup_swap_to_v2(int64_t memory, int64_t swap, char *buf, size_t len, struct berth_error *err)
{
    if (swap == 0)
        return 1;
    if (swap == -1) {
        snprintf(buf, len, "max");
        return 0;
    }
    if (swap < -1)
        return berth_error_set(err, -EINVAL, "linux.resources.memory.swap: invalid value %" PRId64, swap);
    if (memory == 0)
        return berth_error_set(err, -EINVAL,
                               "linux.resources.memory.swap: a swap limit needs a memory limit on cgroup v2");
    if (memory == -1)
        return berth_error_set(err, -EINVAL,
                               "linux.resources.memory.swap: cannot limit swap when memory is unlimited");
    if (swap < memory)
        return berth_error_set(err, -EINVAL,
                               "linux.resources.memory.swap (%" PRId64 ") must not be lower than memory.limit (%" PRId64 ")",
                               swap, memory);
    snprintf(buf, len, "%" PRId64, swap - memory);
    return 0;
}

bool cgroup_hugepage_size_valid(const char *s)
{
    size_t i = 0;
    while (isdigit((unsigned char) s[i]))
        i++;
    if (i == 0)
        return false;
    return strcmp(s + i, "KB") == 0 || strcmp(s + i, "MB") == 0 || strcmp(s + i, "GB") == 0;
}
