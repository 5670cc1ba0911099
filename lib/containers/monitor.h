/* What starting a berth-monitor takes, shared by a container's start (run.c) and berth exec -it's
 * (exec.c). See src/berth-monitor/main.c for its fds and options. */
#pragma once

/* Moves each src[k] (-1: none) to fd 3 + k for the monitor, without clobbering another source on the
 * way: all go above 10 first. The targets lose FD_CLOEXEC; the copies above 10 keep it. */
int ctr_move_monitor_fds(const int *src, int n);
