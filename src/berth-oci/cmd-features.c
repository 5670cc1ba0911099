#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "oci/features.h"
#include "simple.h"

int cmd_features(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("Usage: berth-oci features\n\nPrints the runtime-spec features document (JSON).\n");
        return 0;
    }
    if (argc > 1)
        return cli_failf("features: takes no arguments");
    json_t *f = NULL;
    struct berth_error err = { 0 };
    int r = oci_features_json(&f, &err);
    if (r < 0)
        return cli_fail(&err, r);
    json_dumpf(f, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(f);
    return 0;
}
