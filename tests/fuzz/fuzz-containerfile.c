/* Containerfiles are user input: the parser and the word splitter on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/strv.h"
#include "build/containerfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct containerfile *cf = NULL;
    if (containerfile_parse("fuzz", (const char *) data, size, &cf, NULL) == 0) {
        for (size_t i = 0; i < cf->n; i++) {
            char **w = NULL;
            if (cf_split_words(cf->ins[i].args, &w) == 0)
                strv_free(w);
        }
        containerfile_free(cf);
    }
    return 0;
}
