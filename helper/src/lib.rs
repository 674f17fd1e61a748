//! Shared code of the two PF_KEY helpers (issue 5, "Helpers"):
//!
//! - `pf-to-fd SOCKETPATH`: hands PF_KEY sockets (opened as root) to permitted local
//!   users over a Unix socket, so an unprivileged developer can run the daemon with
//!   `ike-parent --pfkey unix:SOCKETPATH` against the real kernel or the simulator.
//! - `pf-to-tcp`: a debugging proxy between one PF_KEY socket and one TCP client on
//!   loopback, printing every message decoded and in hex.
//!
//! Modules:
//! - [`pfkey_socket`]: opening the kernel's PF_KEY socket, or a simulator connection.
//! - [`peercred`]: the uid at the other end of a Unix socket.
//! - [`unix_listener`]: the owner-only listening socket of pf-to-fd.
//! - [`loopback`]: pf-to-tcp's listen-address check.
//! - [`framing`]: cutting PF_KEY messages out of a TCP byte stream.
//! - [`dump`]: the decoded and hex rendering of a message.
//! - [`ids`]: user and group names or numbers on the command line.

pub mod dump;
pub mod framing;
pub mod ids;
pub mod loopback;
pub mod peercred;
pub mod pfkey_socket;
pub mod unix_listener;
