//! Deterministic random numbers for the fleet. Every component draws from its own stream,
//! derived from (seed, tick, stream), so that what one component draws never changes what
//! another sees: adding a node does not change the traffic, and a replay with the same seed,
//! speed and faults gives the same fleet.

/// SplitMix64: small, fast, and good enough for a simulation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// The stream `stream` of tick `tick` under `seed`.
    pub fn stream(seed: u64, tick: u64, stream: u64) -> Rng {
        Rng(mix(seed ^ mix(tick.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ mix(stream.wrapping_add(0x5851_F42D_4C95_7F2D)))))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in (0, 1]: safe to take the logarithm of.
    fn open_uniform(&mut self) -> f64 {
        1.0 - self.uniform()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.open_uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal with the given median and shape.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.open_uniform().ln()
    }

    /// Poisson-distributed count with mean `lambda` (exact for small means, normal beyond 30).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda.is_nan() || lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let limit = (-lambda).exp();
        let (mut k, mut p) = (0u64, 1.0);
        loop {
            p *= self.uniform();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// A uniform index below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(7, 3, 1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]), "same seed, tick and stream: same numbers");
        assert_ne!(Rng::stream(7, 3, 1).next_u64(), Rng::stream(7, 3, 2).next_u64());
        assert_ne!(Rng::stream(7, 3, 1).next_u64(), Rng::stream(7, 4, 1).next_u64());
        assert_ne!(Rng::stream(7, 3, 1).next_u64(), Rng::stream(8, 3, 1).next_u64());
    }

    #[test]
    fn distributions_have_their_means() {
        let mut r = Rng::stream(1, 0, 0);
        let n = 100_000;
        let mean = |f: &mut dyn FnMut() -> f64| (0..n).map(|_| f()).sum::<f64>() / n as f64;
        assert!((mean(&mut || r.uniform()) - 0.5).abs() < 0.01);
        let mut r = Rng::stream(1, 0, 1);
        assert!((mean(&mut || r.exponential(2.0)) - 2.0).abs() < 0.05);
        let mut r = Rng::stream(1, 0, 2);
        assert!((mean(&mut || r.poisson(4.0) as f64) - 4.0).abs() < 0.05);
        let mut r = Rng::stream(1, 0, 3);
        assert!((mean(&mut || r.poisson(200.0) as f64) - 200.0).abs() < 0.5);
        let mut r = Rng::stream(1, 0, 4);
        let mut v: Vec<f64> = (0..n).map(|_| r.lognormal(10.0, 0.5)).collect();
        v.sort_by(f64::total_cmp);
        assert!((v[n / 2] - 10.0).abs() < 0.2, "median {}", v[n / 2]);
    }
}
