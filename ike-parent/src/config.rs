//! The iked.conf(5)-style configuration parser.
