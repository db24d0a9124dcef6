//! The arithmetic of easel's direct convolution (`conv_op.rs`): a block of
//! up to [`BLOCK`] output channels over a tile of consecutive output
//! pixels of one row, the accumulators in registers while every input
//! channel and tap is added in. Per tap the tile's input values are read
//! once for all the block's channels, and the input rows a tile reads
//! (its width plus the kernel's) stay in L1 across the taps of a row; no
//! im2col matrix is written.
//!
//! Plain Rust that LLVM vectorises along the tile, compiled per
//! instruction set (`kernel::isa`): on AVX-512 a tile is 64 pixels (four
//! registers per channel, 16 accumulators for a block of four), on AVX2
//! 32, on the baseline (NEON on aarch64) 16; what is left of a row goes
//! one register at a time, then column by column. Sums run in another order than
//! tract's kernels: results differ in float rounding only.

#[cfg(target_arch = "x86_64")]
use super::kernel::Fused;
use super::kernel::{Baseline, Isa, Madd, isa};

/// Output channels per block: a block's accumulators fill the registers.
pub const BLOCK: usize = 4;

/// One image's convolution: stride 1, no padding (the input is read as
/// it is, already padded), no dilation.
pub struct Geometry {
    pub input_channels: usize,
    /// The input plane `[H, W]`.
    pub input: [usize; 2],
    pub kernel: [usize; 2],
    /// `[H - kh + 1, W - kw + 1]`.
    pub output: [usize; 2],
}

/// One block of output channels: `weights` is `[Cin][kh][kw][channels]`
/// (the block's channels innermost, one broadcast each per tap).
pub struct Block<'a> {
    pub weights: &'a [f32],
    pub bias: &'a [f32],
}

/// Output rows `rows` of a block's channels: `input` is one image
/// `[Cin][H][W]`, `out[k]` channel `k`'s rows `rows` (`rows.len() · OW`).
pub fn rows(
    geo: &Geometry,
    input: &[f32],
    block: &Block,
    rows: std::ops::Range<usize>,
    out: &mut [&mut [f32]],
) {
    match isa() {
        // SAFETY: `isa` found the features the function is compiled for.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { rows_avx512(geo, input, block, rows, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { rows_avx2(geo, input, block, rows, out) },
        Isa::Baseline => rows_with::<Baseline, 16, 4>(geo, input, block, rows, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn rows_avx512(
    geo: &Geometry,
    input: &[f32],
    block: &Block,
    rows: std::ops::Range<usize>,
    out: &mut [&mut [f32]],
) {
    rows_with::<Fused, 64, 16>(geo, input, block, rows, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn rows_avx2(
    geo: &Geometry,
    input: &[f32],
    block: &Block,
    rows: std::ops::Range<usize>,
    out: &mut [&mut [f32]],
) {
    rows_with::<Fused, 32, 8>(geo, input, block, rows, out)
}

/// Every tile of `rows`, `TW` pixels at a time, then `S` (one register),
/// then the leftover columns one by one; one instance per block width.
#[inline(always)]
fn rows_with<M: Madd, const TW: usize, const S: usize>(
    geo: &Geometry,
    input: &[f32],
    block: &Block,
    rows: std::ops::Range<usize>,
    out: &mut [&mut [f32]],
) {
    match out.len() {
        1 => block_rows::<M, 1, TW, S>(geo, input, block, rows, out),
        2 => block_rows::<M, 2, TW, S>(geo, input, block, rows, out),
        3 => block_rows::<M, 3, TW, S>(geo, input, block, rows, out),
        _ => block_rows::<M, BLOCK, TW, S>(geo, input, block, rows, out),
    }
}

#[inline(always)]
fn block_rows<M: Madd, const K: usize, const TW: usize, const S: usize>(
    geo: &Geometry,
    input: &[f32],
    block: &Block,
    rows: std::ops::Range<usize>,
    out: &mut [&mut [f32]],
) {
    let ow = geo.output[1];
    for (r, y) in rows.enumerate() {
        let mut x = 0;
        while x + TW <= ow {
            tile::<M, K, TW>(geo, input, block, y, x, out, r * ow + x);
            x += TW;
        }
        while x + S <= ow {
            tile::<M, K, S>(geo, input, block, y, x, out, r * ow + x);
            x += S;
        }
        while x < ow {
            tile::<M, K, 1>(geo, input, block, y, x, out, r * ow + x);
            x += 1;
        }
    }
}

/// Output pixels `x..x + TW` of row `y` for the block's `K` channels,
/// written at `out[k][at..]`.
#[inline(always)]
fn tile<M: Madd, const K: usize, const TW: usize>(
    geo: &Geometry,
    input: &[f32],
    block: &Block,
    y: usize,
    x: usize,
    out: &mut [&mut [f32]],
    at: usize,
) {
    let [h, w] = geo.input;
    let [kh, kw] = geo.kernel;
    let mut acc = [[0.0f32; TW]; K];
    for (row, &b) in acc.iter_mut().zip(block.bias) {
        *row = [b; TW];
    }
    for ci in 0..geo.input_channels {
        for ky in 0..kh {
            let line = &input[(ci * h + y + ky) * w + x..][..TW + kw - 1];
            let taps = &block.weights[(ci * kh + ky) * kw * K..][..kw * K];
            for (kx, wk) in taps.chunks_exact(K).enumerate() {
                let xs: &[f32; TW] = line[kx..kx + TW].try_into().expect("TW values");
                for (row, &wk) in acc.iter_mut().zip(wk) {
                    for t in 0..TW {
                        row[t] = M::madd(wk, xs[t], row[t]);
                    }
                }
            }
        }
    }
    for (o, row) in out.iter_mut().zip(&acc) {
        o[at..at + TW].copy_from_slice(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain loop, with rows that leave partial tiles and a
    /// block of three channels.
    #[test]
    fn the_tiles_sum_every_tap() {
        let (cin, h, w, kh, kw, k) = (3, 7, 83, 3, 2, 3);
        let geo = Geometry {
            input_channels: cin,
            input: [h, w],
            kernel: [kh, kw],
            output: [h - kh + 1, w - kw + 1],
        };
        let input: Vec<f32> = (0..cin * h * w).map(|i| (i as f32 * 0.37).sin()).collect();
        let weights: Vec<f32> = (0..cin * kh * kw * k)
            .map(|i| (i as f32 * 0.11).cos())
            .collect();
        let bias = [0.5, -1.0, 2.0];
        let [oh, ow] = geo.output;
        let mut planes = vec![vec![0.0f32; oh * ow]; k];
        let mut out: Vec<&mut [f32]> = planes.iter_mut().map(|p| p.as_mut_slice()).collect();
        let block = Block {
            weights: &weights,
            bias: &bias,
        };
        rows(&geo, &input, &block, 0..oh, &mut out);
        for (o, plane) in planes.iter().enumerate() {
            for y in 0..oh {
                for x in 0..ow {
                    let mut want = bias[o];
                    for ci in 0..cin {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                want += weights[((ci * kh + ky) * kw + kx) * k + o]
                                    * input[(ci * h + y + ky) * w + x + kx];
                            }
                        }
                    }
                    let got = plane[y * ow + x];
                    assert!((got - want).abs() < 1e-4, "[{o}][{y}][{x}] {got} vs {want}");
                }
            }
        }
    }
}
