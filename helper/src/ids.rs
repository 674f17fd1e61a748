//! Users and groups given on the command line by name or number.

use nix::unistd::{Gid, Group, Uid, User};

pub fn parse_uid(s: &str) -> Result<Uid, String> {
    if let Ok(n) = s.parse::<u32>() {
        return Ok(Uid::from_raw(n));
    }
    match User::from_name(s) {
        Ok(Some(u)) => Ok(u.uid),
        Ok(None) => Err(format!("no such user: {s}")),
        Err(e) => Err(format!("looking up user {s}: {e}")),
    }
}

pub fn parse_gid(s: &str) -> Result<Gid, String> {
    if let Ok(n) = s.parse::<u32>() {
        return Ok(Gid::from_raw(n));
    }
    match Group::from_name(s) {
        Ok(Some(g)) => Ok(g.gid),
        Ok(None) => Err(format!("no such group: {s}")),
        Err(e) => Err(format!("looking up group {s}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names() {
        assert_eq!(parse_uid("0").unwrap(), Uid::from_raw(0));
        assert_eq!(parse_uid("root").unwrap(), Uid::from_raw(0));
        assert_eq!(parse_gid("0").unwrap(), Gid::from_raw(0));
        assert!(parse_uid("no-such-user-ike-test").is_err());
        assert!(parse_gid("no-such-group-ike-test").is_err());
    }
}
