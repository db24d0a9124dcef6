//! easel's own element-wise functions for a fused chain, where tract-linalg
//! has no vectorised kernel: `Sin` and `Cos` (tract evaluates them one
//! element at a time through libm, ~130 ns each, which is what kept the
//! classic CPPN out of the reference models), and the trivial `Square`,
//! `Neg` and `Abs` a Gaussian `exp(-x²)` is written with.
//!
//! Sine and cosine are branch-free so LLVM vectorises them along the
//! tile: the argument is reduced to `r` in [-π/4, π/4] around the nearest
//! multiple `j` of π/2 (π/2 split in three parts, Cody and Waite, so the
//! reduction stays exact for the arguments a network produces), then
//! Cephes' `sinf`/`cosf` polynomials on `r`, picked and signed by `j`'s
//! quadrant. Within 2 units in the last place of `f32` for |x| up to a few
//! thousand (tested against `f64`); past 2²² · π/2 the reduction no longer
//! holds (no network here comes near it). Compiled per instruction set and
//! picked at run time, like the products (`kernel.rs`).

use super::kernel::{Baseline, Isa, Madd, isa};

/// An element-wise function easel computes itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Map {
    Sin,
    Cos,
    Square,
    Neg,
    Abs,
}

impl Map {
    pub fn name(self) -> &'static str {
        match self {
            Map::Sin => "sin",
            Map::Cos => "cos",
            Map::Square => "square",
            Map::Neg => "neg",
            Map::Abs => "abs",
        }
    }

    /// Applies the function to every element, in place.
    pub fn run(self, xs: &mut [f32]) {
        match isa() {
            // SAFETY: `isa` found the features the function is compiled for.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { map_avx512(self, xs) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { map_avx2(self, xs) },
            Isa::Baseline => map_with::<Baseline>(self, xs),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn map_avx512(map: Map, xs: &mut [f32]) {
    map_with::<super::kernel::Fused>(map, xs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn map_avx2(map: Map, xs: &mut [f32]) {
    map_with::<super::kernel::Fused>(map, xs)
}

#[inline(always)]
fn map_with<M: Madd>(map: Map, xs: &mut [f32]) {
    match map {
        Map::Sin => xs.iter_mut().for_each(|x| *x = sine::<M>(*x, 0)),
        Map::Cos => xs.iter_mut().for_each(|x| *x = sine::<M>(*x, 1)),
        Map::Square => xs.iter_mut().for_each(|x| *x *= *x),
        Map::Neg => xs.iter_mut().for_each(|x| *x = -*x),
        Map::Abs => xs.iter_mut().for_each(|x| *x = x.abs()),
    }
}

/// 1.5 · 2²³: adding it rounds an `f32` below 2²² to an integer, which
/// then sits in the sum's low mantissa bits (its quadrant among them).
const ROUND: f32 = 12_582_912.0;
/// π/2 = P1 + P2 + P3; P1 and P2 have few enough bits that `j · P` is exact.
const P1: f32 = 1.570_312_5;
const P2: f32 = 4.837_513e-4;
const P3: f32 = 7.549_79e-8;

/// `sin(x + quarter · π/2)`: `quarter` 0 is the sine, 1 the cosine.
#[inline(always)]
fn sine<M: Madd>(x: f32, quarter: u32) -> f32 {
    let v = M::madd(x, std::f32::consts::FRAC_2_PI, ROUND);
    let j = v - ROUND;
    let q = v.to_bits().wrapping_add(quarter);
    let r = M::madd(-j, P1, x);
    let r = M::madd(-j, P2, r);
    let r = M::madd(-j, P3, r);
    let z = r * r;
    let s = M::madd(
        M::madd(
            M::madd(-1.951_529_6e-4, z, 8.332_161e-3),
            z,
            -1.666_665_5e-1,
        ) * z,
        r,
        r,
    );
    let c = M::madd(
        M::madd(
            M::madd(2.443_315_7e-5, z, -1.388_731_6e-3),
            z,
            4.166_664_6e-2,
        ) * z,
        z,
        M::madd(-0.5, z, 1.0),
    );
    let picked = if q & 1 == 0 { s } else { c };
    f32::from_bits(picked.to_bits() ^ ((q & 2) << 30))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worst(map: Map, exact: fn(f64) -> f64, xs: &[f32]) -> f64 {
        let mut got = xs.to_vec();
        map.run(&mut got);
        xs.iter()
            .zip(&got)
            .map(|(&x, &y)| (y as f64 - exact(x as f64)).abs())
            .fold(0.0, f64::max)
    }

    /// Every flavour this CPU runs, against `f64` over the range networks
    /// produce (and well past it).
    #[test]
    fn sine_and_cosine_are_within_float_rounding() {
        let xs: Vec<f32> = (-400_000..=400_000).map(|k| k as f32 * 0.005).collect();
        let sin = worst(Map::Sin, f64::sin, &xs);
        let cos = worst(Map::Cos, f64::cos, &xs);
        assert!(sin < 2.5e-7, "sin: worst error {sin:e}");
        assert!(cos < 2.5e-7, "cos: worst error {cos:e}");
        let far: Vec<f32> = (0..10_000).map(|k| 3000.0 + k as f32 * 0.37).collect();
        let sin = worst(Map::Sin, f64::sin, &far);
        assert!(sin < 1e-6, "sin far out: worst error {sin:e}");
        // The portable flavour too (what a CPU without FMA runs).
        let mut plain = xs[..1000].to_vec();
        map_with::<crate::tract::fuse::kernel::Separate>(Map::Sin, &mut plain);
        for (x, y) in xs.iter().zip(&plain) {
            assert!(
                (*y as f64 - (*x as f64).sin()).abs() < 2.5e-7,
                "sin({x}) = {y}"
            );
        }
    }

    #[test]
    fn special_values_stay_special() {
        let mut xs = [0.0f32, -0.0, f32::NAN, f32::INFINITY, 1e-30];
        Map::Sin.run(&mut xs);
        assert_eq!(xs[0].to_bits(), 0.0f32.to_bits());
        assert!(xs[2].is_nan() && xs[3].is_nan());
        assert_eq!(xs[4], 1e-30);
        let mut xs = [2.0f32, -3.0];
        Map::Square.run(&mut xs);
        assert_eq!(xs, [4.0, 9.0]);
        Map::Neg.run(&mut xs);
        assert_eq!(xs, [-4.0, -9.0]);
        Map::Abs.run(&mut xs);
        assert_eq!(xs, [4.0, 9.0]);
    }
}
