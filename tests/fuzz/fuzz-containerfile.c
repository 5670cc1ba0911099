/* Containerfiles are user input: the parser (heredocs included), the word splitter, the RUN argv
 * built from heredocs and the stage planner (FROM AS, COPY --from, --target) on arbitrary bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/strv.h"
#include "build/build-internal.h"
#include "build/containerfile.h"
#include "build/stage-plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct containerfile *cf = NULL;
    if (containerfile_parse("fuzz", (const char *) data, size, &cf, NULL) == 0) {
        for (size_t i = 0; i < cf->n; i++) {
            char **w = NULL;
            if (cf_split_words(cf->ins[i].args, &w) == 0)
                strv_free(w);
            if (cf->ins[i].op == CF_RUN)
                json_decref(build_run_argv(&cf->ins[i]));
        }
        bool *run = NULL;
        size_t end = 0;
        if (build_plan(cf, NULL, &run, &end, NULL) == 0)
            free(run);
        run = NULL;
        if (build_plan(cf, "builder", &run, &end, NULL) == 0)
            free(run);
        containerfile_free(cf);
    }
    return 0;
}
