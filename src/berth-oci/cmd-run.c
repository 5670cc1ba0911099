#include "oci-cli.h"
#include "runtime/container.h"

int cli_parse_create(int argc, char **argv, const char *verb, struct container_create_opts *o, bool *detach);

int cmd_run(int argc, char **argv)
{
    struct container_create_opts o = { 0 };
    bool detach = false;
    int r = cli_parse_create(argc, argv, "run", &o, &detach);
    if (r)
        return r < 0 ? 0 : r;
    struct berth_error err = { 0 };
    int status = 0;
    r = container_run(&o, detach, &status, &err);
    return r < 0 ? cli_fail(&err, r) : status;
}
