/* Guest physical memory as seen by the VMM and its devices. Every access from device code goes
 * through guest_memory_ptr/read/write, which check that the whole range lies in one region:
 * guest-controlled addresses are never trusted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEMORY_MAX_REGIONS 8

struct guest_region {
    uint64_t gpa;   /* guest physical start */
    uint64_t size;  /* bytes */
    uint8_t *hva;   /* host mapping */
};

struct guest_memory {
    struct guest_region regions[GUEST_MEMORY_MAX_REGIONS];
    size_t n_regions;
};

/* Adds a region; rejects overlap with an existing one, zero size and address overflow. */
int guest_memory_add_region(struct guest_memory *mem, uint64_t gpa, uint64_t size, uint8_t *hva);

/* Host pointer for [gpa, gpa+len) if it lies wholly inside one region, else NULL. */
void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len);

/* Copies between guest and host memory; -EFAULT when the range is not wholly guest RAM. */
int guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst, uint64_t len);
int guest_memory_write(const struct guest_memory *mem, uint64_t gpa, const void *src, uint64_t len);
