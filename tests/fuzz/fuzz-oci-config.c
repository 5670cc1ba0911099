/* Fuzz target: config.json parsing and validation (lib/oci/config*.c) on hostile documents. */
#include <stddef.h>
#include <stdint.h>

#include "base/json.h"
#include "oci/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = NULL;
    struct berth_error err = { 0 };
    if (json_load_buffer((const char *) data, size, "fuzz", &j, &err) < 0)
        return 0;
    struct oci_config *c = NULL;
    if (oci_config_from_json(j, NULL, "fuzz", &c, &err) == 0)
        oci_runtime_config_free(c);
    json_decref(j);
    return 0;
}
