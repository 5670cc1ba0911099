/* Fuzz target: linux.seccomp JSON through validation and the libseccomp filter build (no load). */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "runtime/seccomp-internal.h"
#include "runtime/security.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *) data, size, JSON_DECODE_ANY, &jerr);
    if (!j)
        return 0;
    struct berth_error err = { 0 };
    scmp_filter_ctx ctx = NULL;
    if (seccomp_build(j, &ctx, &err) == 0)
        seccomp_release(ctx);
    /* The capability sets share the shape "object of string arrays": same input, second parser. */
    berth_error_clear(&err);
    caps_check_spec(j, &err);
    json_decref(j);
    return 0;
}
