/* Entry of berth's freestanding test guests. Built twice: with -DGUEST_PVH (Xen PVH ELF note)
 * or -DGUEST_MULTIBOOT (multiboot v1 header with load addresses). Both enter here in 32-bit
 * protected mode without paging; this code identity-maps 4 GiB (user-accessible 2 MiB pages),
 * enters long mode and calls guest_entry(magic, info) in C. user_call() runs a function in
 * ring 3 and returns to ring 0 via a #GP (see isr13). */

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
    cli
    mov %eax, %ebp              /* boot magic */
    mov %ebx, %esi              /* boot information */
    lgdt gdt_ptr

    /* Identity map of the first 4 GiB with 2 MiB pages, user-accessible. */
    mov $pdpt, %eax
    or $7, %eax
    mov %eax, pml4
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $12, %eax
    add $pd, %eax
    or $7, %eax
    mov %eax, pdpt(,%ecx,8)
    inc %ecx
    cmp $4, %ecx
    jne 1b
    xor %ecx, %ecx
2:  mov %ecx, %eax
    shl $21, %eax
    or $0x87, %eax
    mov %eax, pd(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne 2b

    mov %cr4, %eax
    or $0x20, %eax              /* PAE */
    mov %eax, %cr4
    mov $pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx       /* EFER.LME */
    rdmsr
    or $0x100, %eax             /* LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax        /* PG, PE */
    mov %eax, %cr0
    ljmp $0x08, $start64

    .code64
start64:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    mov $kernel_stack_top, %rsp
    mov %ebp, %edi
    mov %esi, %esi
    call guest_entry
3:  hlt
    jmp 3b

/* long user_call(long (*fn)(long), long arg) */
    .text
    .globl user_call
user_call:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, saved_kernel_rsp(%rip)
    pushq $0x23                 /* user data | RPL 3 */
    pushq $user_stack_top
    pushq $0x3002               /* IOPL 3, interrupts off */
    pushq $0x2b                 /* user code | RPL 3 */
    lea user_trampoline(%rip), %rax
    push %rax
    iretq
user_trampoline:
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    mov %rax, %rdi
    hlt                         /* #GP in ring 3: back to ring 0 (isr13) */
    ud2

/* #GP: nested paravirtual KVM ignores IOPL in ring 3 (and refuses `int n` and `syscall` for
 * a guest that is not PVM-aware), so ring-3 port I/O faults here and is emulated: the faulting
 * instruction is one of in/out with the port in %dx (guest.h never uses the immediate forms).
 * A `hlt` in ring 3 is user_call's way back to ring 0 (%rdi: the result). */
    .globl isr13
isr13:
    testb $3, 16(%rsp)          /* [error, rip, cs, ...]: fault in ring 0? */
    jz gp_fatal
    push %rcx
    mov 16(%rsp), %rcx          /* rip */
    movzbl (%rcx), %ecx
    cmp $0xee, %ecx
    je gp_outb
    cmp $0xef, %ecx
    je gp_outl
    cmp $0xec, %ecx
    je gp_inb
    cmp $0xed, %ecx
    je gp_inl
    cmp $0x66, %ecx             /* operand-size prefix: outw %ax,%dx (66 ef), inw %dx,%ax (66 ed) */
    je gp_word
    cmp $0xf4, %ecx
    je user_return
    pop %rcx
gp_fatal:
    pushq $13
    jmp isr_common
gp_outb:
    pop %rcx
    outb %al, %dx
    jmp gp_skip
gp_outl:
    pop %rcx
    outl %eax, %dx
    jmp gp_skip
gp_inb:
    pop %rcx
    inb %dx, %al
    jmp gp_skip
gp_word:
    mov 16(%rsp), %rcx
    cmpb $0xed, 1(%rcx)
    pop %rcx
    je 5f
    outw %ax, %dx
    addq $1, 8(%rsp)
    jmp gp_skip
5:  inw %dx, %ax
    addq $1, 8(%rsp)
    jmp gp_skip
gp_inl:
    pop %rcx
    inl %dx, %eax
gp_skip:
    addq $1, 8(%rsp)            /* past the one-byte instruction */
    add $8, %rsp                /* drop the error code */
    iretq
user_return:
    mov %rdi, %rax
    mov saved_kernel_rsp(%rip), %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

/* Exception stubs: push a dummy error code where the CPU does not, then the vector. */
    .macro isr_noerr n
    .globl isr\n
isr\n:
    pushq $0
    pushq $\n
    jmp isr_common
    .endm
    .macro isr_err n
    .globl isr\n
isr\n:
    pushq $\n
    jmp isr_common
    .endm
    isr_noerr 0
    isr_noerr 1
    isr_noerr 2
    isr_noerr 3
    isr_noerr 4
    isr_noerr 5
    isr_noerr 6
    isr_noerr 7
    isr_err 8
    isr_noerr 9
    isr_err 10
    isr_err 11
    isr_err 12
    isr_err 14
    isr_noerr 15
    isr_noerr 16
    isr_err 17
    isr_noerr 18
    isr_noerr 19
isr_common:
    mov %rsp, %rdi              /* [vector, error, rip, cs, rflags, rsp, ss] */
    call guest_exception
4:  hlt
    jmp 4b

    .data
    .align 16
    .globl gdt
gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08 kernel code 64 */
    .quad 0x00cf92000000ffff    /* 0x10 kernel data */
    .quad 0x00cf9a000000ffff    /* 0x18 kernel code 32 */
    .quad 0x00cff2000000ffff    /* 0x20 user data */
    .quad 0x00affa000000ffff    /* 0x28 user code 64 */
    .quad 0, 0                  /* 0x30 TSS, filled by guest_entry */
gdt_end:
    .globl gdt_ptr
gdt_ptr:
    .word gdt_end - gdt - 1
    .quad gdt
saved_kernel_rsp:
    .quad 0

    .bss
    .align 4096
pml4: .skip 4096
pdpt: .skip 4096
pd:   .skip 4 * 4096
    .skip 16384
kernel_stack_top:
    .skip 65536
    .globl user_stack_top
user_stack_top:
    .skip 16

#ifdef GUEST_PVH
    .section .note.Xen, "a", @note
    .align 4
    .long 4                     /* namesz */
    .long 4                     /* descsz */
    .long 18                    /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long _start32
#endif
    .section .note.GNU-stack, "", @progbits
