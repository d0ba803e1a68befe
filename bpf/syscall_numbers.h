/* Syscall numbers and argument registers at sys_exit, per architecture. At syscall exit the
 * argument registers still hold the caller's values on x86-64; on arm64 x0 was overwritten by
 * the return value and the first argument lives in orig_x0. */
#ifndef LOUPE_BPF_SYSCALL_NUMBERS_H
#define LOUPE_BPF_SYSCALL_NUMBERS_H

#if defined(__TARGET_ARCH_x86)
#define LOUPE_NR_read 0
#define LOUPE_NR_write 1
#define LOUPE_NR_close 3
#define LOUPE_NR_readv 19
#define LOUPE_NR_writev 20
#define LOUPE_NR_sendfile 40
#define LOUPE_NR_connect 42
#define LOUPE_NR_accept 43
#define LOUPE_NR_sendto 44
#define LOUPE_NR_recvfrom 45
#define LOUPE_NR_sendmsg 46
#define LOUPE_NR_recvmsg 47
#define LOUPE_NR_accept4 288
#define LOUPE_SYSCALL_ID(regs) ((regs)->orig_ax)
#define LOUPE_SYSCALL_ARG0(regs) ((regs)->di)
#define LOUPE_SYSCALL_ARG1(regs) ((regs)->si)
#define LOUPE_SYSCALL_ID_CORE(regs) BPF_CORE_READ(regs, orig_ax)
#define LOUPE_SYSCALL_ARG0_CORE(regs) BPF_CORE_READ(regs, di)
#define LOUPE_SYSCALL_ARG1_CORE(regs) BPF_CORE_READ(regs, si)
#elif defined(__TARGET_ARCH_arm64)
#define LOUPE_NR_read 63
#define LOUPE_NR_write 64
#define LOUPE_NR_close 57
#define LOUPE_NR_readv 65
#define LOUPE_NR_writev 66
#define LOUPE_NR_sendfile 71
#define LOUPE_NR_connect 203
#define LOUPE_NR_accept 202
#define LOUPE_NR_sendto 206
#define LOUPE_NR_recvfrom 207
#define LOUPE_NR_sendmsg 211
#define LOUPE_NR_recvmsg 212
#define LOUPE_NR_accept4 242
#define LOUPE_SYSCALL_ID(regs) ((regs)->syscallno)
#define LOUPE_SYSCALL_ARG0(regs) ((regs)->orig_x0)
#define LOUPE_SYSCALL_ARG1(regs) ((regs)->regs[1])
#define LOUPE_SYSCALL_ID_CORE(regs) BPF_CORE_READ(regs, syscallno)
#define LOUPE_SYSCALL_ARG0_CORE(regs) BPF_CORE_READ(regs, orig_x0)
#define LOUPE_SYSCALL_ARG1_CORE(regs) BPF_CORE_READ(regs, regs[1])
#else
#error "Loupe's capture supports x86-64 and arm64"
#endif

#endif
