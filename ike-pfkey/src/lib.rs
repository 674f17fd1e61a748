//! PF_KEY v2 (RFC 2367) with the KAME and OpenBSD extensions.
