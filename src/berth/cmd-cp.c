/* berth cp */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "commands.h"
#include "containers/cp.h"
#include "store/store.h"

static void cp_usage(FILE *out)
{
    fprintf(out, "Usage: berth cp CONTAINER:PATH HOSTPATH\n"
                 "       berth cp HOSTPATH CONTAINER:PATH\n\n"
                 "Copies files and directories (recursively; symlinks as symlinks) between the host and a\n"
                 "container's root filesystem, running or stopped. Paths in the container are resolved in\n"
                 "its root (symlinks cannot lead out of it). An existing directory as the destination\n"
                 "receives the source under its own name.\n");
}

/* "NAME:PATH" with a NAME that has no '/': a container path. */
static char *cp_split(char *arg)
{
    char *colon = strchr(arg, ':');
    if (!colon || colon == arg || memchr(arg, '/', (size_t) (colon - arg)))
        return NULL;
    *colon = '\0';
    return colon + 1;
}

int cmd_cp(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        cp_usage(stdout);
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "berth cp: expected SOURCE and DESTINATION (see --help)\n");
        return 125;
    }
    char *src_path = cp_split(argv[1]), *dst_path = cp_split(argv[2]);
    if (!!src_path == !!dst_path) {
        fprintf(stderr, "berth cp: exactly one of SOURCE and DESTINATION must be CONTAINER:PATH\n");
        return 125;
    }
    bool to_container = dst_path != NULL;
    const char *name = to_container ? argv[2] : argv[1];
    const char *cpath = to_container ? dst_path : src_path;
    const char *hpath = to_container ? argv[1] : argv[2];
    if (!*cpath) {
        fprintf(stderr, "berth cp: empty path in the container\n");
        return 125;
    }
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    struct ctr_record rec = { 0 };
    int r = ctr_store_open(&s, &err);
    if (r == 0)
        r = ctr_record_find(s, name, &rec, &err);
    if (r == 0)
        r = ctr_copy(s, &rec, cpath, hpath, to_container, &err);
    ctr_record_clear(&rec);
    if (r < 0) {
        fprintf(stderr, "berth cp: %s\n", berth_error_message(&err));
        return 1;
    }
    return 0;
}
