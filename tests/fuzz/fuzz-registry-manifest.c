/* Fuzzes manifest and index parsing as the registry does it on PUT and the client on pull. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *types[] = { NULL, MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST, MT_DOCKER_LIST };
    struct registry_manifest *m = NULL;
    const char *ct = types[size % 5];
    if (manifest_parse((const char *) data, size, ct, &m, NULL) == 0) {
        for (size_t i = 0; i < m->n_refs; i++)
            if (strlen(m->refs[i].digest) != 71)
                abort();
        manifest_free(m);
    }
    return 0;
}
