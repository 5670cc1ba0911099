#include "vmm/kvm/guest-memory.h"

#include <errno.h>
#include <string.h>

int guest_memory_add_region(struct guest_memory *mem, uint64_t gpa, uint64_t size, uint8_t *hva)
{
    if (size == 0 || !hva || gpa + size < gpa)
        return -EINVAL;
    if (mem->n_regions >= GUEST_MEMORY_MAX_REGIONS)
        return -ENOSPC;
    for (size_t i = 0; i < mem->n_regions; i++) {
        const struct guest_region *r = &mem->regions[i];
        if (gpa < r->gpa + r->size && r->gpa < gpa + size)
            return -EEXIST;
    }
    mem->regions[mem->n_regions++] = (struct guest_region){ .gpa = gpa, .size = size, .hva = hva };
    return 0;
}

void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
    if (gpa + len < gpa)
        return NULL;
    for (size_t i = 0; i < mem->n_regions; i++) {
        const struct guest_region *r = &mem->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
            return r->hva + (gpa - r->gpa);
    }
    return NULL;
}

int guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst, uint64_t len)
{
    void *p = guest_memory_ptr(mem, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(dst, p, len);
    return 0;
}

int guest_memory_write(const struct guest_memory *mem, uint64_t gpa, const void *src, uint64_t len)
{
    void *p = guest_memory_ptr(mem, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(p, src, len);
    return 0;
}
