/* Fuzz target: linux.resources JSON through the cgroup resource parser and the v2 device program
 * generator (nothing is written to any cgroup). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "runtime/cgroup-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *) data, size, JSON_DECODE_ANY, &jerr);
    if (!j)
        return 0;
    struct berth_error err = { 0 };
    struct cgroup_resources r;
    if (cgroup_resources_parse(j, &r, &err) == 0) {
        struct bpf_insn *prog = NULL;
        size_t n = 0;
        if (cgroup_v2_devices_program(r.devices, r.n_devices, &prog, &n) == 0)
            free(prog);
        char buf[32];
        cgroup_swap_to_v2(r.mem_limit, r.mem_swap, buf, sizeof(buf), &err);
        cgroup_resources_done(&r);
    }
    json_decref(j);
    return 0;
}
