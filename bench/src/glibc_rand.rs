//! glibc's `rand()`, bit for bit, so the `liquibook` workload replays the
//! exact order stream of Liquibook's C++ performance test.
//!
//! glibc's default generator is `random()` with the TYPE_3 state: an
//! additive lagged-Fibonacci generator over 34 words of history, seeded by
//! the Park–Miller LCG `16807 * r mod (2^31 - 1)`, with the first 310
//! outputs discarded. `rand()` returns `random()`, which is the new word
//! shifted right by one.

/// The state of glibc's `rand()` after `srand(seed)`.
pub(crate) struct GlibcRand {
    /// The last 34 words, as a ring; `next` is the oldest.
    history: [u32; 34],
    next: usize,
}

impl GlibcRand {
    /// Equivalent to `srand(seed)`.
    pub fn new(seed: u32) -> GlibcRand {
        // glibc maps seed 0 to 1, since the LCG would stay at 0.
        let seed = if seed == 0 { 1 } else { seed };
        let mut r = [0u32; 34];
        r[0] = seed;
        for i in 1..31 {
            // Park–Miller, as glibc computes it: on the signed 32-bit value,
            // with the negative result folded back.
            let word = (16_807 * i64::from(r[i - 1] as i32)) % 2_147_483_647;
            r[i] = if word < 0 {
                (word + 2_147_483_647) as u32
            } else {
                word as u32
            };
        }
        for i in 31..34 {
            r[i] = r[i - 31];
        }
        let mut rng = GlibcRand {
            history: r,
            next: 0,
        };
        for _ in 34..344 {
            rng.step();
        }
        rng
    }

    /// Advances one word: `r[i] = r[i-31] + r[i-3]` (mod 2^32).
    fn step(&mut self) -> u32 {
        let len = self.history.len();
        let value = self.history[(self.next + len - 31) % len]
            .wrapping_add(self.history[(self.next + len - 3) % len]);
        self.history[self.next] = value;
        self.next = (self.next + 1) % len;
        value
    }

    /// Equivalent to `rand()`: a value in `0..=RAND_MAX` (2^31 - 1).
    #[allow(clippy::should_implement_trait)] // named after the C function it mirrors
    pub fn next(&mut self) -> u32 {
        self.step() >> 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Printed by glibc 2.36 (Debian 12): `srand(3); rand()` eight times.
    #[test]
    fn matches_glibc_after_srand_3() {
        let mut rng = GlibcRand::new(3);
        let got: Vec<u32> = (0..8).map(|_| rng.next()).collect();
        assert_eq!(
            got,
            [
                1_205_554_746,
                483_147_985,
                844_158_168,
                953_350_440,
                612_121_425,
                310_914_940,
                1_210_224_072,
                1_856_883_376
            ]
        );
    }

    /// glibc: the sum of the first million `rand()` values after `srand(3)`.
    #[test]
    fn matches_glibc_over_a_million_draws() {
        let mut rng = GlibcRand::new(3);
        let sum: u64 = (0..1_000_000).map(|_| u64::from(rng.next())).sum();
        assert_eq!(sum, 1_074_197_966_532_086);
    }

    #[test]
    fn seed_zero_is_seed_one() {
        let (mut zero, mut one) = (GlibcRand::new(0), GlibcRand::new(1));
        assert!((0..100).all(|_| zero.next() == one.next()));
    }
}
