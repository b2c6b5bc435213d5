//! A small seeded generator for the simulation (the harness library has no `rand`).

use crate::traces::SplitMix64;

/// The simulation's generator: the traces' SplitMix64 (one implementation in this crate)
/// plus the distributions the simulation draws from.
#[derive(Clone, Debug)]
pub struct SimRng(SplitMix64);

impl SimRng {
    /// A generator with `seed`; equal seeds give equal sequences.
    pub fn new(seed: u64) -> SimRng {
        SimRng(SplitMix64::new(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.0.next_f64()
    }

    /// Exponentially distributed with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_are_right_and_seeds_repeat() {
        let mut a = SimRng::new(3);
        let n = 100_000;
        let mean = (0..n).map(|_| a.exp(2.0)).sum::<f64>() / n as f64;
        assert!((mean - 2.0).abs() < 0.05, "{mean}");
        let u = (0..n).map(|_| a.unit()).sum::<f64>() / n as f64;
        assert!((u - 0.5).abs() < 0.01, "{u}");
        assert_eq!(SimRng::new(9).next_u64(), SimRng::new(9).next_u64());
    }
}
