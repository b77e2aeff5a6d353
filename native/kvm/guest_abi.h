/* The contract between the demo VMM and its built-in micro-guest: guest physical layout, ports,
 * phases and the report area. Plain #defines only, so guest.S (preprocessed by cc) includes it. */
#ifndef RONDO_KVM_GUEST_ABI_H
#define RONDO_KVM_GUEST_ABI_H

/* Guest physical layout (the VMM identity-maps the low 4 GiB with 2 MiB pages). */
#define GUEST_GDT 0x1000
#define GUEST_TSS 0x1800
#define GUEST_PML4 0x2000
#define GUEST_PDPT 0x3000
#define GUEST_PD 0x4000 /* four page directories, 0x4000..0x7fff */
#define GUEST_REPORTS 0x8000
#define GUEST_REPORT_STRIDE 128
#define GUEST_MAX_VCPUS 64 /* 64 report areas end at 0xa000 */
#define GUEST_CODE 0x10000
#define GUEST_STACK_BYTES 0x1000 /* per vCPU, carved downwards from the top of memory */

/* GDT selectors. */
#define GUEST_SEL_CODE 0x08
#define GUEST_SEL_DATA 0x10
#define GUEST_SEL_TSS 0x18

/* Ports and MMIO. */
#define PORT_SERIAL 0x3f8      /* 8250 transmit register; 0x3f8..0x3ff belong to the UART */
#define PORT_SERIAL_LAST 0x3ff
#define PORT_SERIAL_LSR 0x3fd  /* line status: reads say "transmitter empty" */
#define PORT_CONTROL 0x510     /* IN: the current phase */
#define PORT_TEST 0x511        /* echo: IN returns the byte this vCPU last wrote */
#define MMIO_TEST_ADDR 0xd0000000 /* no memory there: every access is a KVM_EXIT_MMIO */
#define MMIO_TEST_BYTES 0x1000    /* the test device answers in [MMIO_TEST_ADDR, +this) */
#define MMIO_READ_PATTERN 0x5a5a5a5a5a5a5a5a

/* Phases, as read from PORT_CONTROL. The banner is printed before the first read. */
#define PHASE_CPU 1
#define PHASE_PIO 2
#define PHASE_MMIO 3
#define PHASE_IDLE 4
#define PHASE_SHUTDOWN 5

/* One unit of CPU work: this many rounds of a 6-instruction mixing loop, no exits. */
#define CPU_UNIT_ROUNDS 500

/* Report area of one vCPU (plain little-endian u64 counters the guest bumps BEFORE each access). */
#define REPORT_MAGIC 0 /* REPORT_MAGIC_VALUE once the guest has started */
#define REPORT_IO_IN 8
#define REPORT_IO_OUT 16
#define REPORT_MMIO_READ 24
#define REPORT_MMIO_WRITE 32
#define REPORT_HLT 40
#define REPORT_LOOPS 48
#define REPORT_CPU_UNITS 56
#define REPORT_PIO_UNITS 64
#define REPORT_MMIO_UNITS 72
#define REPORT_PHASE 80       /* the phase last read */
#define REPORT_CPU_SINK 88    /* the CPU unit's result, stored so the work is observable */
#define REPORT_ECHO_ERRORS 96 /* test-port reads that did not return the byte written */
#define REPORT_MMIO_ERRORS 104 /* MMIO reads that did not return MMIO_READ_PATTERN */
#define REPORT_WORDS 14
#define REPORT_MAGIC_VALUE 0x31545347444e4f52 /* "RONDGST1" */

#endif
