//! Shared code of the pf-to-fd and pf-to-tcp helpers.
