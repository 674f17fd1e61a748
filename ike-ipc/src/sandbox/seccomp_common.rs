//! Syscalls both children need just to run a Rust program's event loop.
//! Anything not listed in here or in the child's own list kills the process
//! (SECCOMP_RET_KILL_PROCESS, seen by the parent as SIGSYS).
//!
//! Deliberately absent: open/openat, socket, connect, bind, execve, fork/clone,
//! ptrace, mprotect (no making memory executable), kill of other processes,
//! ioctl.

/// `(syscall number, why)`.
pub fn allowed() -> Vec<(i64, &'static str)> {
    let mut v = vec![
        // Memory: the allocator grows and shrinks the heap.
        (libc::SYS_brk, "heap"),
        (libc::SYS_mmap, "large allocations"),
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
        (libc::SYS_tgkill, "abort() raising SIGABRT"),
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

/// Syscalls allowed only with one argument equal to one value:
/// `(syscall number, argument index, value, why)`.
pub fn allowed_with_arg() -> Vec<(i64, u8, u64, &'static str)> {
    vec![(
        libc::SYS_fcntl,
        1,
        libc::F_GETFD as u64,
        "F_GETFD only: std checks a descriptor is open before closing it (debug builds)",
    )]
}
