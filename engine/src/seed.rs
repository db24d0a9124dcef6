//! Seeds and latents: a `u64` seed fully determines a latent, on every
//! machine and in every release, and latents morph by spherical
//! interpolation.
//!
//! The algorithm is part of easel's contract (docs/seeds.md) and must never
//! change, which is why it is written here rather than taken from a crate
//! whose stream may change between versions:
//!
//! 1. SplitMix64 (Steele, Lea, Flood 2014) seeded with the seed gives a
//!    stream of `u64`s.
//! 2. Each pair `(a, b)` becomes two standard normals by Box–Muller in f64:
//!    `u1 = ((a >> 11) + 1) / 2^53` (in (0, 1], so the log is finite),
//!    `u2 = (b >> 11) / 2^53`, `r = sqrt(-2 ln u1)`,
//!    `z0 = r cos(2π u2)`, `z1 = r sin(2π u2)`; each is rounded to f32.
//!    `ln`, `sin`, `cos` come from `libm`, a pure-Rust port of musl's,
//!    so the bits do not depend on the platform's C library.

use std::f64::consts::TAU;

/// Seeds handed out at random stay below 2^53 so JavaScript (the gallery
/// page) and JSON tools can show them exactly.
pub const MAX_RANDOM_SEED: u64 = (1 << 53) - 1;

/// The SplitMix64 generator.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform f32 in [0, 1) from 24 random bits.
    pub fn next_unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A latent vector: the numbers a generator turns into a picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Latent {
    pub values: Vec<f32>,
}

impl Latent {
    /// `len` standard normal values determined by `seed` (see module docs).
    pub fn from_seed(seed: u64, len: usize) -> Latent {
        let mut rng = SplitMix64::new(seed);
        let mut values = Vec::with_capacity(len + 1);
        while values.len() < len {
            let a = rng.next_u64();
            let b = rng.next_u64();
            let u1 = ((a >> 11) + 1) as f64 / (1u64 << 53) as f64;
            let u2 = (b >> 11) as f64 / (1u64 << 53) as f64;
            let r = (-2.0 * libm::log(u1)).sqrt();
            values.push((r * libm::cos(TAU * u2)) as f32);
            values.push((r * libm::sin(TAU * u2)) as f32);
        }
        values.truncate(len);
        Latent { values }
    }

    /// Spherical interpolation from `self` (t = 0) to `other` (t = 1).
    ///
    /// Gaussian latents live near a sphere; a straight line between two of
    /// them passes through the low-norm middle, where generators produce
    /// washed-out pictures. Slerp keeps the norm. Falls back to a linear
    /// mix when the two are (anti)parallel.
    pub fn slerp(&self, other: &Latent, t: f32) -> Latent {
        assert_eq!(
            self.values.len(),
            other.values.len(),
            "latents of different sizes"
        );
        let t = t.clamp(0.0, 1.0) as f64;
        let dot: f64 = self
            .values
            .iter()
            .zip(&other.values)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let (na, nb) = (norm(&self.values), norm(&other.values));
        let cos = if na > 0.0 && nb > 0.0 {
            (dot / (na * nb)).clamp(-1.0, 1.0)
        } else {
            1.0
        };
        let omega = cos.acos();
        let (wa, wb) = if omega.sin().abs() < 1e-6 {
            (1.0 - t, t)
        } else {
            (
                ((1.0 - t) * omega).sin() / omega.sin(),
                (t * omega).sin() / omega.sin(),
            )
        };
        let values = self
            .values
            .iter()
            .zip(&other.values)
            .map(|(a, b)| (wa * *a as f64 + wb * *b as f64) as f32)
            .collect();
        Latent { values }
    }
}

/// A fresh seed from the OS-seeded hasher, below [`MAX_RANDOM_SEED`].
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() & MAX_RANDOM_SEED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // First outputs for seed 1234567 from the reference C implementation.
        let mut rng = SplitMix64::new(1234567);
        let want = [
            6457827717110365317u64,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for w in want {
            assert_eq!(rng.next_u64(), w);
        }
    }

    #[test]
    fn latent_is_deterministic_and_normal() {
        let a = Latent::from_seed(42, 10_001);
        assert_eq!(a, Latent::from_seed(42, 10_001));
        assert_ne!(a, Latent::from_seed(43, 10_001));
        let n = a.values.len() as f64;
        let mean = a.values.iter().map(|v| *v as f64).sum::<f64>() / n;
        let var = a
            .values
            .iter()
            .map(|v| (*v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        assert!(a.values.iter().all(|v| v.is_finite()));
        // A prefix of a longer latent is the shorter latent.
        assert_eq!(Latent::from_seed(42, 7).values[..], a.values[..7]);
    }

    #[test]
    fn slerp_ends_and_norm() {
        let a = Latent::from_seed(1, 100);
        let b = Latent::from_seed(2, 100);
        assert_eq!(a.slerp(&b, 0.0), a);
        let end = a.slerp(&b, 1.0);
        for (x, y) in end.values.iter().zip(&b.values) {
            assert!((x - y).abs() < 1e-5);
        }
        let norm = |l: &Latent| l.values.iter().map(|v| v * v).sum::<f32>().sqrt();
        let mid = a.slerp(&b, 0.5);
        let lerp_mid: Vec<f32> = a
            .values
            .iter()
            .zip(&b.values)
            .map(|(x, y)| (x + y) / 2.0)
            .collect();
        let lerp_norm = lerp_mid.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(
            norm(&mid) > lerp_norm,
            "slerp keeps more of the norm than lerp"
        );
        assert!((norm(&mid) - (norm(&a) + norm(&b)) / 2.0).abs() < 1.0);
        assert_eq!(a.slerp(&a, 0.3), a.slerp(&a, 0.3));
    }

    #[test]
    fn random_seeds_fit_javascript() {
        for _ in 0..100 {
            assert!(random_seed() <= MAX_RANDOM_SEED);
        }
    }
}
