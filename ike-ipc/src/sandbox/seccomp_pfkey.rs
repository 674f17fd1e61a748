//! ike-pfkey's own syscalls, on top of [`super::seccomp_common`].
//! The broker only reads and writes its PF_KEY socket and its two channels,
//! which the common list covers. Extend here (and say why) if the broker needs more.

/// `(syscall number, why)`.
pub fn allowed() -> Vec<(i64, &'static str)> {
    vec![]
}
