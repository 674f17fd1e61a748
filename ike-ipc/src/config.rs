//! The configuration data model the parent sends to its children (owned by the "config" helper).
