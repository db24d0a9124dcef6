//! The arithmetic of a fused pointwise chain (`op.rs`), over tiles of
//! [`TILE`] pixels kept channel by channel in cache: a 1x1 convolution is
//! a small matrix product per tile (`W · x`, the weights `[outputs][inputs]`
//! row-major, packed once at load), an activation runs tract-linalg's own
//! vectorised kernel over the tile, a per-channel vector is a bias.
//!
//! tract runs the same chain one whole tensor at a time: every 1x1
//! convolution re-packs its `[channels, pixels]` input for its product
//! kernel and writes a full-size tensor (46 % of the default CPPN's time
//! in `OptMatMulPack`); here a tile of 16 pixels x 32 channels (2 KiB)
//! never leaves L1 between the stages.
//!
//! The product is plain Rust that LLVM vectorises along the tile's pixels;
//! it is compiled three times on x86_64 (AVX-512, AVX2 + FMA, baseline)
//! and picked at run time; on aarch64 NEON (with FMA) is the baseline.
//! Sums run in a different order than tract's kernels: results differ in
//! float rounding only.

use tract_linalg::element_wise::ElementWise;

/// Pixels per tile: one AVX-512 register, two AVX2 or four NEON ones.
pub const TILE: usize = 16;

type Row = [f32; TILE];

/// One resolved step of a chain, for one run.
pub enum Step<'a> {
    /// `out[o] = bias[o] + Σ_i weights[o * inputs + i] · in[i]`.
    Linear {
        outputs: usize,
        inputs: usize,
        weights: &'a [f32],
        bias: Vec<f32>,
    },
    /// `x[c] += vector[c]`.
    Add(Vec<f32>),
    /// tract-linalg's vectorised kernel, element by element.
    Activation(&'a dyn ElementWise<f32>),
    /// One of easel's own element-wise functions (`maps.rs`).
    Map(super::maps::Map),
}

/// Runs `steps` over every pixel: `input` is `[channels][pixels]`, and
/// `output` one slice per output channel over the same pixels.
pub fn run_tiles(
    steps: &[Step],
    widest: usize,
    input: &[f32],
    input_channels: usize,
    pixels: usize,
    first_pixel: usize,
    output: &mut [&mut [f32]],
) -> Result<(), String> {
    let mut a: Vec<Row> = vec![[0.0; TILE]; widest];
    let mut b: Vec<Row> = vec![[0.0; TILE]; widest];
    let count = output.first().map_or(0, |o| o.len());
    let mut at = 0;
    while at < count {
        let n = TILE.min(count - at);
        let p = first_pixel + at;
        for (c, row) in a.iter_mut().take(input_channels).enumerate() {
            let from = &input[c * pixels + p..][..n];
            row[..n].copy_from_slice(from);
            row[n..].fill(0.0);
        }
        let mut channels = input_channels;
        for step in steps {
            match step {
                Step::Linear {
                    outputs,
                    inputs,
                    weights,
                    bias,
                } => {
                    linear(
                        weights,
                        *outputs,
                        *inputs,
                        bias,
                        &a[..*inputs],
                        &mut b[..*outputs],
                    );
                    std::mem::swap(&mut a, &mut b);
                    channels = *outputs;
                }
                Step::Add(vector) => {
                    for (row, v) in a.iter_mut().zip(vector) {
                        row.iter_mut().for_each(|x| *x += v);
                    }
                }
                Step::Activation(f) => f
                    .run(a[..channels].as_flattened_mut())
                    .map_err(|e| format!("{e:#}"))?,
                Step::Map(map) => map.run(a[..channels].as_flattened_mut()),
            }
        }
        for (row, out) in a.iter().zip(output.iter_mut()) {
            out[at..at + n].copy_from_slice(&row[..n]);
        }
        at += n;
    }
    Ok(())
}

/// `a * b + c`, fused or not: the product is compiled once per flavour.
pub(super) trait Madd {
    fn madd(a: f32, b: f32, c: f32) -> f32;
}

/// A fused multiply-add instruction (x86 FMA, AArch64's baseline).
#[allow(dead_code)]
pub(super) struct Fused;
impl Madd for Fused {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// Multiply, then add (x86_64 without FMA: `mul_add` would call libm).
#[allow(dead_code)]
pub(super) struct Separate;
impl Madd for Separate {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// `K` outputs at a time: their accumulators stay in registers while
/// each input row is read once for all of them.
#[inline(always)]
fn linear_with<M: Madd, const K: usize>(
    w: &[f32],
    outputs: usize,
    inputs: usize,
    bias: &[f32],
    x: &[Row],
    out: &mut [Row],
) {
    let mut o = 0;
    while o + K <= outputs {
        let mut acc = [[0.0f32; TILE]; K];
        for (k, row) in acc.iter_mut().enumerate() {
            *row = [bias[o + k]; TILE];
        }
        for (i, xi) in x.iter().enumerate().take(inputs) {
            for (k, row) in acc.iter_mut().enumerate() {
                let wk = w[(o + k) * inputs + i];
                for t in 0..TILE {
                    row[t] = M::madd(wk, xi[t], row[t]);
                }
            }
        }
        out[o..o + K].copy_from_slice(&acc);
        o += K;
    }
    while o < outputs {
        let mut row = [bias[o]; TILE];
        for (i, xi) in x.iter().enumerate().take(inputs) {
            let wk = w[o * inputs + i];
            for t in 0..TILE {
                row[t] = M::madd(wk, xi[t], row[t]);
            }
        }
        out[o] = row;
        o += 1;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn linear_avx512(w: &[f32], o: usize, i: usize, bias: &[f32], x: &[Row], out: &mut [Row]) {
    linear_with::<Fused, 8>(w, o, i, bias, x, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn linear_avx2(w: &[f32], o: usize, i: usize, bias: &[f32], x: &[Row], out: &mut [Row]) {
    linear_with::<Fused, 4>(w, o, i, bias, x, out)
}

/// `out = bias + W · x` on one tile, with the best instructions this CPU has.
fn linear(w: &[f32], o: usize, i: usize, bias: &[f32], x: &[Row], out: &mut [Row]) {
    match isa() {
        // SAFETY: `isa` found the features the function is compiled for.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { linear_avx512(w, o, i, bias, x, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { linear_avx2(w, o, i, bias, x, out) },
        Isa::Baseline => linear_with::<Baseline, 4>(w, o, i, bias, x, out),
    }
}

/// The instruction sets the kernels here and in `maps.rs` are compiled
/// for, one picked at run time.
#[derive(Clone, Copy, Debug)]
pub(super) enum Isa {
    /// AVX-512F with FMA.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// AVX2 with FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// What the target always has (NEON with FMA on aarch64).
    Baseline,
}

/// The best instruction set this CPU has (the detection is cached by std).
pub(super) fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let fma = std::arch::is_x86_feature_detected!("fma");
        if fma && std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if fma && std::arch::is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// The multiply-add of [`Isa::Baseline`]: fused where the target always
/// has the instruction (AArch64), else separate.
#[cfg(target_arch = "aarch64")]
pub(super) type Baseline = Fused;
#[cfg(not(target_arch = "aarch64"))]
pub(super) type Baseline = Separate;

#[cfg(test)]
mod tests {
    use super::*;

    /// The product against a plain triple loop, over sizes that leave
    /// partial tiles and partial output blocks.
    #[test]
    fn the_product_is_the_matrix_product() {
        let (outputs, inputs, pixels) = (11, 7, 37);
        let w: Vec<f32> = (0..outputs * inputs)
            .map(|k| (k as f32 * 0.37).sin())
            .collect();
        let x: Vec<f32> = (0..inputs * pixels)
            .map(|k| (k as f32 * 0.11).cos())
            .collect();
        let bias: Vec<f32> = (0..outputs).map(|o| o as f32 * 0.5).collect();
        let steps = [Step::Linear {
            outputs,
            inputs,
            weights: &w,
            bias: bias.clone(),
        }];
        let mut out = vec![0.0f32; outputs * pixels];
        let mut parts: Vec<&mut [f32]> = out.chunks_mut(pixels).collect();
        run_tiles(
            &steps,
            outputs.max(inputs),
            &x,
            inputs,
            pixels,
            0,
            &mut parts,
        )
        .unwrap();
        for o in 0..outputs {
            for p in 0..pixels {
                let want: f32 = bias[o]
                    + (0..inputs)
                        .map(|i| w[o * inputs + i] * x[i * pixels + p])
                        .sum::<f32>();
                let got = out[o * pixels + p];
                assert!(
                    (got - want).abs() < 1e-5,
                    "out[{o}][{p}] = {got}, want {want}"
                );
            }
        }
    }
}
