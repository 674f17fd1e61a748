//! The uid of the process at the other end of a connected Unix socket, as the
//! kernel recorded it at connect time (it cannot be forged by the peer).

use std::os::fd::AsFd;

/// Linux: `SO_PEERCRED`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn peer_uid<F: AsFd>(sock: &F) -> nix::Result<u32> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    Ok(getsockopt(sock, PeerCredentials)?.uid())
}

/// The BSDs: `getpeereid(2)`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn peer_uid<F: AsFd>(sock: &F) -> nix::Result<u32> {
    let (uid, _gid) = nix::unistd::getpeereid(sock.as_fd())?;
    Ok(uid.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_socketpair_peer_is_ourselves() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a).unwrap(), nix::unistd::geteuid().as_raw());
    }
}
