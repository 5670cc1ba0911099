/* Image documents from untrusted sources: manifests, indexes, configs (and the runtime defaults
 * taken from a config), and image references. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/defaults.h"
#include "image/manifest.h"
#include "image/reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *) data;
    enum oci_kind kind;
    (void) oci_document_kind(s, size, "fuzz", &kind, NULL);
    struct oci_manifest *m = NULL;
    if (oci_manifest_parse(s, size, "fuzz", &m, NULL) == 0)
        oci_manifest_free(m);
    struct oci_index *idx = NULL;
    if (oci_index_parse(s, size, "fuzz", &idx, NULL) == 0) {
        const struct oci_descriptor *d = NULL;
        (void) oci_index_select(idx, NULL, NULL, &d, NULL);
        oci_index_free(idx);
    }
    struct oci_image_config *c = NULL;
    if (oci_config_parse(s, size, "fuzz", &c, NULL) == 0) {
        struct image_defaults def;
        if (image_defaults_from_config(c->json, &def, NULL) == 0) {
            char **argv = NULL;
            if (image_defaults_argv(&def, NULL, NULL, &argv, NULL) == 0) {
                for (char **p = argv; *p; p++)
                    free(*p);
                free(argv);
            }
            image_defaults_clear(&def);
        }
        oci_config_free(c);
    }
    if (size < 512) {
        char buf[512];
        memcpy(buf, data, size);
        buf[size] = '\0';
        struct image_ref *ref = NULL;
        if (image_ref_parse(buf, &ref, NULL) == 0) {
            free(image_ref_string(ref));
            image_ref_free(ref);
        }
    }
    return 0;
}
