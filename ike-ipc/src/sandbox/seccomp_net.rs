//! ike-net's own syscalls, on top of [`super::seccomp_common`].
//! Extend here when the IKE engine needs more (and say why).

/// `(syscall number, why)`.
pub fn allowed() -> Vec<(i64, &'static str)> {
    vec![
        (
            libc::SYS_accept4,
            "accept ike-ctl connections on the control socket",
        ),
        (libc::SYS_getsockopt, "SO_PEERCRED: the ike-ctl peer's uid"),
    ]
}
