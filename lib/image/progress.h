/* Progress reports from long image operations (import, export, unpack). The library only calls
 * back; the CLI decides whether to draw (stderr is a tty) or stay quiet. */
#pragma once

#include <stdint.h>

enum image_progress_phase { IMAGE_PROGRESS_COPY, IMAGE_PROGRESS_UNPACK, IMAGE_PROGRESS_EXPORT };

struct image_progress_event {
    enum image_progress_phase phase;
    const char *what;     /* the blob or layer digest being processed */
    uint64_t bytes;       /* bytes done in this phase so far (all items) */
    unsigned item, items; /* layers or blobs: 1-based index of the current one, total (0: unknown) */
    int done;             /* 1 on the last report of the phase */
};

struct image_progress {
    void (*fn)(const struct image_progress_event *ev, void *userdata);
    void *userdata;
};

static inline void image_progress_report(const struct image_progress *p, const struct image_progress_event *ev)
{
    if (p && p->fn)
        p->fn(ev, p->userdata);
}
