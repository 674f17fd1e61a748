//! Randomness, injected.
//!
//! The engine draws every random value it needs (SPIs, nonces, IVs, cookie
//! secrets, rekey jitter, key-exchange private values) through [`Rng`], so a
//! test can replay a run from a seed and the real-peer vector tests can feed
//! the recorded nonces and SPIs back in.

/// A source of random bytes.
///
/// Production code uses [`SystemRng`]; tests use [`SeededRng`] or a scripted
/// implementation of their own.
pub trait Rng {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);

    /// A random `u64`, built from [`Rng::fill`].
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b)
    }

    /// A random `u32`, built from [`Rng::fill`].
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        u32::from_le_bytes(b)
    }
}

/// The operating system's CSPRNG, through `ring`.
///
/// A failure of the system generator is not recoverable for a key-exchange
/// daemon: generating keys from zeroed memory would be far worse than
/// stopping, so this aborts the process (`ring` reports failure only when the
/// OS source itself is broken).
pub struct SystemRng(ring::rand::SystemRandom);

impl SystemRng {
    /// A handle on the system generator.
    pub fn new() -> Self {
        SystemRng(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRng {
    fn default() -> Self {
        Self::new()
    }
}

impl Rng for SystemRng {
    fn fill(&mut self, buf: &mut [u8]) {
        use ring::rand::SecureRandom;
        if self.0.fill(buf).is_err() {
            // Why abort: see the type's documentation.
            log::error!("system random generator failed; aborting");
            std::process::abort();
        }
    }
}

/// A deterministic generator (xoshiro256** seeded through SplitMix64).
///
/// For tests and simulations only: the output is predictable from the seed.
#[derive(Clone, Debug)]
pub struct SeededRng {
    s: [u64; 4],
}

impl SeededRng {
    /// A generator whose whole output is a function of `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            // SplitMix64, used only to spread the seed over the state.
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        SeededRng {
            s: [next(), next(), next(), next()],
        }
    }

    fn step(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }
}

impl Rng for SeededRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.step().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A uniformly drawn value in `0..bound` (0 when `bound` is 0).
pub(crate) fn below(rng: &mut dyn Rng, bound: u64) -> u64 {
    if bound == 0 {
        return 0;
    }
    // The modulo bias is at most bound/2^64: irrelevant for jitter.
    rng.next_u64() % bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_reproducible_and_seed_dependent() {
        let mut a = SeededRng::new(7);
        let mut b = SeededRng::new(7);
        let mut c = SeededRng::new(8);
        let (mut x, mut y, mut z) = ([0u8; 37], [0u8; 37], [0u8; 37]);
        a.fill(&mut x);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(x, [0u8; 37]);
    }

    #[test]
    fn system_rng_fills() {
        let mut r = SystemRng::new();
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        r.fill(&mut a);
        r.fill(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = SeededRng::new(1);
        for _ in 0..1000 {
            assert!(below(&mut r, 10) < 10);
        }
        assert_eq!(below(&mut r, 0), 0);
    }
}
