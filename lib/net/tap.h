/* Persistent tap devices (see net_tap_open in attach.h for reopening). */
#pragma once

#include "base/error.h"

/* Creates (or attaches to) the persistent tap ifname; returns an fd bound to it. */
int tap_create(const char *ifname, unsigned flags, struct berth_error *err);
/* Clears persistence so the tap disappears once no fd holds it. */
int tap_destroy(const char *ifname);
