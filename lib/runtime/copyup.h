/* tmpcopyup: seeds a new tmpfs with the contents of the directory it will cover. */
#pragma once

#include "base/error.h"

/* Copies src_dir's tree (files, directories, symlinks, fifos, with owners and modes) into
 * dst_dir. Symlinks are copied as links, never followed. */
int copyup_tree(int src_dir, int dst_dir, struct berth_error *err);
