//! Syscalls both children need just to run a Rust program's event loop.
//! Anything not listed in here or in the child's own list kills the process
//! (SECCOMP_RET_KILL_PROCESS, seen by the parent as SIGSYS).
//!
//! Deliberately absent: open/openat, socket, connect, bind, execve, fork/clone,
//! ptrace, mprotect and pkey_mprotect (no making memory executable), kill,
//! ioctl. mmap and tgkill pass only with the arguments [`allowed_when`] names.

/// `(syscall number, why)`.
pub fn allowed() -> Vec<(i64, &'static str)> {
    let mut v = vec![
        // Memory: the allocator grows and shrinks the heap.
        (libc::SYS_brk, "heap"),
        (libc::SYS_munmap, "free large allocations"),
        (libc::SYS_mremap, "realloc of large allocations"),
        (libc::SYS_madvise, "allocator returns pages"),
        // The event loop (mio on epoll).
        (libc::SYS_epoll_pwait, "mio::Poll::poll"),
        (libc::SYS_epoll_ctl, "register/deregister sources"),
        // I/O on descriptors we already hold.
        (libc::SYS_read, "signal pipe"),
        (libc::SYS_write, "log lines to stderr, signal pipe"),
        (libc::SYS_recvmsg, "IPC channels with SCM_RIGHTS"),
        (libc::SYS_sendmsg, "IPC channels"),
        (libc::SYS_recvfrom, "signal-hook's pipe, datagrams"),
        (libc::SYS_sendto, "signal-hook's pipe wake-up"),
        (libc::SYS_close, "dropping descriptors"),
        // Time and randomness.
        (
            libc::SYS_clock_gettime,
            "Instant::now when the vDSO falls back",
        ),
        (libc::SYS_getrandom, "HashMap seeds"),
        // Signals: the handler returns, std masks around thread-locals.
        (libc::SYS_rt_sigreturn, "return from the signal handler"),
        (libc::SYS_rt_sigprocmask, "std and abort()"),
        (libc::SYS_sigaltstack, "std's stack-overflow guard at exit"),
        // abort() on panic (panic = "abort") raises SIGABRT at itself, so a
        // panic is reported as SIGABRT, not as a seccomp kill.
        (libc::SYS_getpid, "abort()"),
        (libc::SYS_gettid, "abort()"),
        (libc::SYS_futex, "std's locks (stderr, logger)"),
        (libc::SYS_sched_yield, "std's locks under contention"),
        (libc::SYS_exit, "thread exit"),
        (libc::SYS_exit_group, "process exit"),
    ];
    // x86_64 still has the older entry point glibc may use for epoll_wait.
    #[cfg(target_arch = "x86_64")]
    v.push((libc::SYS_epoll_wait, "mio::Poll::poll (x86_64)"));
    v
}

/// How one argument is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgIs {
    /// Equal to this value.
    Eq(u64),
    /// None of these bits set.
    Without(u64),
}

/// A syscall allowed only when every listed argument matches:
/// `(syscall number, [(argument index, comparison)], why)`. `pid` is the
/// calling process's (single-threaded: its thread id too), known when the
/// filter is built inside the child.
pub type ArgRule = (i64, Vec<(u8, ArgIs)>, &'static str);

pub fn allowed_when(pid: u32) -> Vec<ArgRule> {
    let me = u64::from(pid);
    vec![
        (
            libc::SYS_fcntl,
            vec![(1, ArgIs::Eq(libc::F_GETFD as u64))],
            "F_GETFD only: std checks a descriptor is open before closing it (debug builds)",
        ),
        // Never executable memory: injected code could not be mapped to run
        // (mprotect is not allowed at all, so mapped memory stays non-exec).
        (
            libc::SYS_mmap,
            vec![(2, ArgIs::Without(libc::PROT_EXEC as u64))],
            "large allocations, never PROT_EXEC",
        ),
        // abort() raises SIGABRT at itself; no signal to any other process
        // or thread (a compromised ike-net must not stop ike-pfkey).
        (
            libc::SYS_tgkill,
            vec![(0, ArgIs::Eq(me)), (1, ArgIs::Eq(me))],
            "abort() raising SIGABRT at this process only",
        ),
    ]
}
