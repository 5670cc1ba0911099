#include "base/array.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int array_reserve(void *items_ptr, size_t *cap, size_t need, size_t size, size_t initial)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : (initial ? initial : 1);
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -EOVERFLOW;
        ncap *= 2;
    }
    if (size && ncap > SIZE_MAX / size)
        return -EOVERFLOW;
    /* items_ptr points to a typed pointer; copy through memcpy instead of casting to void ** so
     * no strict-aliasing assumption is made about the caller's pointer type. */
    void *old;
    memcpy(&old, items_ptr, sizeof(old));
    void *grown = realloc(old, ncap * size);
    if (!grown)
        return -ENOMEM;
    memcpy(items_ptr, &grown, sizeof(grown));
    *cap = ncap;
    return 0;
}
