/* tiny: the smallest guest, for start-up benchmarks. Its first instruction already talks to the
 * host: with -DFIRST_BYTE it writes '!' to COM1 first, then it writes 0 to the debug-exit port
 * (exit status 1). No ring-0 setup at all, so what is measured is the monitor.
 * It deliberately does not use lib/start.S, although its boot header and PVH note repeat that
 * file's: start.S builds page tables and enters long mode before any guest code runs, over 12000
 * ring-0 instructions (the 2048-entry page directory loop alone) that this machine's nested KVM
 * emulates at about 2 us each (~25 ms), so bench/vmm's "exec -> first instruction" and "first
 * serial byte" would time the guest's own start-up instead of the monitor's. */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00010002
    .section .boot, "ax"
    .code32
#ifdef GUEST_MULTIBOOT
    .align 4
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long mb_header
    .long __load_start
    .long __load_end
    .long __bss_end
    .long _start32
#endif
    .globl _start32
_start32:
#ifdef FIRST_BYTE
    mov $0x3f8, %dx
    mov $'!', %al
    outb %al, %dx
    mov $'\n', %al
    outb %al, %dx
#endif
    mov $0xf4, %dx
    xor %eax, %eax
    outl %eax, %dx
1:  hlt
    jmp 1b

#ifdef GUEST_PVH
    .section .note.Xen, "a", @note
    .align 4
    .long 4, 4, 18
    .asciz "Xen"
    .long _start32
#endif
    .section .note.GNU-stack, "", @progbits
