/* A small AML (ACPI Machine Language) byte-code writer: just what berth's DSDT needs (names,
 * integers, strings, packages, buffers, scopes, devices, resource templates). Errors (allocation)
 * stick in aml->err and are reported once at the end. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct aml {
    uint8_t *buf;
    size_t len, cap;
    int err;
};

void aml_free(struct aml *a);
void aml_bytes(struct aml *a, const void *data, size_t n);
void aml_byte(struct aml *a, uint8_t b);
/* A NameString: "\\_SB_.COM1", "_HID", "V000"; segments shorter than 4 are padded with '_'. */
void aml_name(struct aml *a, const char *path);
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* The compressed 32-bit EISA ID of "PNP0501" as an integer. */
void aml_eisaid(struct aml *a, const char *id);
uint32_t aml_eisaid_value(const char *id);

/* Opens a construct with a PkgLength (Scope, Device, Package, Buffer): writes the opcode(s)
 * and returns a mark for aml_close(), which inserts the PkgLength. */
size_t aml_open(struct aml *a, const uint8_t *op, size_t op_len);
void aml_close(struct aml *a, size_t mark);

/* Name(name, <value written by the caller next>) */
void aml_name_decl(struct aml *a, const char *name);

/* Resource descriptors, between aml_open_buffer-style templates built by acpi-dsdt.c. */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len);
void aml_res_irq_noflags(struct aml *a, uint8_t irq);
void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t len);
void aml_res_interrupt(struct aml *a, uint32_t gsi, int edge, int active_low);
void aml_res_end(struct aml *a);

#define AML_SCOPE_OP 0x10
#define AML_NAME_OP 0x08
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_EXT_PREFIX 0x5b
#define AML_DEVICE_OP 0x82
