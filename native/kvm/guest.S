/* The built-in micro-guest: position-independent 64-bit code that the VMM copies to GUEST_CODE
 * and enters in long mode with RDI = vCPU index, RSI = that vCPU's report area, RSP = its stack.
 * It lives in the addon's read-only data; it never runs on the host. */
#include "kvm/guest_abi.h"

        .intel_syntax noprefix
        .section .rodata.rondo_guest, "a", @progbits
        .balign 16
        .globl rondo_guest_begin, rondo_guest_end
        .globl rondo_guest_micro, rondo_guest_internal_error, rondo_guest_fail_entry
        .code64

rondo_guest_begin:

/* The workload: banner, then one unit of the phase the VMM names, forever; the VMM's clock
 * decides the phases, so the VM lives as long as it was configured to on any KVM. */
rondo_guest_micro:
        call    enter
        lea     rsi, [rip + msg_up_1]
        call    put_string
        mov     rax, r14
        call    put_decimal
        lea     rsi, [rip + msg_up_2]
        call    put_string

next_unit:
        inc     qword ptr [r15 + REPORT_IO_IN]
        mov     dx, PORT_CONTROL
        in      al, dx
        movzx   eax, al
        mov     [r15 + REPORT_PHASE], rax
        cmp     eax, PHASE_CPU
        je      unit_cpu
        cmp     eax, PHASE_PIO
        je      unit_pio
        cmp     eax, PHASE_MMIO
        je      unit_mmio
        cmp     eax, PHASE_IDLE
        je      unit_idle
        jmp     unit_shutdown           /* PHASE_SHUTDOWN, or a phase this guest does not know */

unit_cpu:
        inc     qword ptr [r15 + REPORT_CPU_UNITS]
        mov     rax, [r15 + REPORT_CPU_SINK]
        mov     rbx, 0x9e3779b97f4a7c15
        mov     ecx, CPU_UNIT_ROUNDS
1:      add     rax, rbx
        mov     rdx, rax
        shr     rdx, 29
        xor     rax, rdx
        imul    rax, rbx
        dec     ecx
        jnz     1b
        mov     [r15 + REPORT_CPU_SINK], rax
        jmp     unit_done

unit_pio:
        inc     qword ptr [r15 + REPORT_PIO_UNITS]
        mov     rax, [r15 + REPORT_LOOPS]
        xor     rax, r14
        mov     ebx, eax
        mov     dx, PORT_TEST
        inc     qword ptr [r15 + REPORT_IO_OUT]
        out     dx, al
        inc     qword ptr [r15 + REPORT_IO_IN]
        in      al, dx
        cmp     al, bl
        je      unit_done
        inc     qword ptr [r15 + REPORT_ECHO_ERRORS]
        jmp     unit_done

unit_mmio:
        inc     qword ptr [r15 + REPORT_MMIO_UNITS]
        mov     r13d, MMIO_TEST_ADDR
        mov     rax, [r15 + REPORT_LOOPS]
        inc     qword ptr [r15 + REPORT_MMIO_WRITE]
        mov     [r13], rax
        inc     qword ptr [r15 + REPORT_MMIO_READ]
        mov     rax, [r13]
        mov     rbx, MMIO_READ_PATTERN
        cmp     rax, rbx
        je      unit_done
        inc     qword ptr [r15 + REPORT_MMIO_ERRORS]
        jmp     unit_done

unit_idle:
        inc     qword ptr [r15 + REPORT_HLT]
        hlt                             /* the VMM sleeps until 10 ms passed or the phase changed */

unit_done:
        inc     qword ptr [r15 + REPORT_LOOPS]
        jmp     next_unit

unit_shutdown:
        test    r14, r14
        jnz     triple_fault
        lea     rsi, [rip + msg_bye]
        call    put_string
        jmp     triple_fault

/* A guest whose cmpxchg16b on MMIO the instruction emulator cannot complete:
 * KVM_EXIT_INTERNAL_ERROR (emulation failure) on KVMs that emulate MMIO this way. */
rondo_guest_internal_error:
        call    enter
        lea     rsi, [rip + msg_ie_1]
        call    put_string
        mov     rax, r14
        call    put_decimal
        lea     rsi, [rip + msg_ie_2]
        call    put_string
        mov     r13d, MMIO_TEST_ADDR
        xor     eax, eax
        xor     edx, edx
        xor     ebx, ebx
        xor     ecx, ecx
        lock cmpxchg16b [r13]
        lea     rsi, [rip + msg_ie_survived]    /* this KVM emulated it: say so, then end */
        call    put_string
        jmp     triple_fault

/* Entered with CS.L = CS.D = 1 in long mode, a state VMX and SVM refuse at VM entry
 * (KVM_EXIT_FAIL_ENTRY). Reaching this code means this KVM accepted it. */
rondo_guest_fail_entry:
        call    enter
        lea     rsi, [rip + msg_fe_1]
        call    put_string
        mov     rax, r14
        call    put_decimal
        lea     rsi, [rip + msg_fe_2]
        call    put_string
        jmp     triple_fault

/* Common entry: keep the index in r14 and the report area in r15, mark the report started. */
enter:
        mov     r15, rsi
        mov     r14, rdi
        mov     rax, REPORT_MAGIC_VALUE
        mov     [r15 + REPORT_MAGIC], rax
        ret

/* No IDT, so the #UD escalates to #GP, #DF and a triple fault: KVM_EXIT_SHUTDOWN. */
triple_fault:
        lidt    [rip + null_idt]
        ud2
        jmp     triple_fault

/* Writes the NUL-terminated string at RSI to the serial port, one counted OUT per byte. */
put_string:
        mov     dx, PORT_SERIAL
2:      mov     al, [rsi]
        test    al, al
        jz      3f
        inc     qword ptr [r15 + REPORT_IO_OUT]
        out     dx, al
        inc     rsi
        jmp     2b
3:      ret

/* Writes RAX in decimal to the serial port. */
put_decimal:
        mov     rcx, 10
        xor     r8d, r8d
4:      xor     edx, edx
        div     rcx
        push    rdx
        inc     r8d
        test    rax, rax
        jnz     4b
        mov     dx, PORT_SERIAL
5:      pop     rax
        add     al, '0'
        inc     qword ptr [r15 + REPORT_IO_OUT]
        out     dx, al
        dec     r8d
        jnz     5b
        ret

        .balign 8
null_idt:
        .word   0
        .quad   0
msg_up_1:
        .asciz  "rondo micro-guest: vcpu "
msg_up_2:
        .asciz  " up\n"
msg_bye:
        .asciz  "rondo micro-guest: bye\n"
msg_ie_1:
        .asciz  "rondo internal-error guest: vcpu "
msg_ie_2:
        .asciz  ": lock cmpxchg16b on MMIO\n"
msg_ie_survived:
        .asciz  "rondo internal-error guest: this KVM emulated cmpxchg16b on MMIO; no internal error\n"
msg_fe_1:
        .asciz  "rondo fail-entry guest: vcpu "
msg_fe_2:
        .asciz  " runs: this KVM accepted an invalid guest state (CS.L=1 with CS.D=1); no FAIL_ENTRY\n"

rondo_guest_end:

        .section .note.GNU-stack, "", @progbits
