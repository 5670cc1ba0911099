#include <jansson.h>

#include "runtime/container.h"
#include "simple.h"

int cmd_state(int argc, char **argv)
{
    int code;
    const char *id = cli_parse_simple(argc, argv, "state", "CONTAINER-ID\n\nPrints the container's state as JSON.",
                                      NULL, NULL, &code);
    if (!id)
        return code;
    struct berth_error err = { 0 };
    json_t *st = NULL;
    int r = container_state(oci_globals.root, id, &st, &err);
    if (r < 0)
        return cli_fail(&err, r);
    json_dumpf(st, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(st);
    return 0;
}
