/* .dockerignore files come with build contexts: the pattern parser and matcher on arbitrary
 * bytes. The input is patterns, then a line "---", then paths to check against them. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build/ignore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *paths = strstr(text, "\n---\n");
    if (paths) {
        *paths = '\0';
        paths += 5;
    }
    struct build_ignore *ig = NULL;
    if (build_ignore_parse(text, &ig) == 0) {
        for (char *line = paths; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            build_ignore_check(ig, line, true);
            build_ignore_check(ig, line, false);
            build_ignore_pattern_match(line, line);
            line = nl ? nl + 1 : NULL;
        }
        build_ignore_free(ig);
    }
    free(text);
    return 0;
}
