//! Big-endian integer reads that cannot panic: they fold whatever bytes they
//! are given, so a caller indexing with a field range of the right size gets
//! the value, and a wrong size can only give a wrong value, never a panic.

pub fn u16(b: &[u8]) -> u16 {
    b.iter().fold(0u16, |acc, &x| (acc << 8) | u16::from(x))
}

pub fn u32(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x))
}

pub fn u64(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}
