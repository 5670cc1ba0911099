/* Growable arrays: one place for the "double the capacity when full" idiom. */
#pragma once

#include <stddef.h>

/* Makes room for at least `need` elements of `size` bytes in the array *items_ptr (a pointer to the
 * array pointer) whose capacity is *cap, growing by doubling from `initial`. On failure (-ENOMEM,
 * or -EOVERFLOW when the byte size would not fit in size_t) the array and *cap are left as they
 * were, so the caller still owns and frees the old array. */
int array_reserve(void *items_ptr, size_t *cap, size_t need, size_t size, size_t initial);

/* ARRAY_RESERVE(list, cap, n + 1, 16) where list is a typed pointer. */
#define ARRAY_RESERVE(items, cap, need, initial) \
    array_reserve(&(items), &(cap), (need), sizeof(*(items)), (initial))
