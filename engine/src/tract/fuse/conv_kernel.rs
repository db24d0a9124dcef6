//! The arithmetic of easel's direct convolution (`conv_op.rs`): a block of
//! output channels over a tile of consecutive output pixels of one row,
//! the accumulators in registers while every input channel and tap is
//! added in. Per tap the tile's input values are loaded once into
//! registers for all the block's channels, each channel's weight is
//! broadcast once, and the input rows a tile reads (its width plus the
//! kernel's) stay in L1 across the taps of a row; no im2col matrix is
//! written.
//!
//! Written with explicit vector registers ([`Lanes`]: one register of
//! the instruction set, chosen at run time by `kernel::isa`), because
//! LLVM, given the same loops over plain arrays, kept the accumulators
//! of a 4-channel x 64-pixel tile on the stack and stored them back
//! after every multiply-add (half the AVX-512 peak at best). A block is
//! as many channels as fill the registers beside the tile's inputs:
//! 8 channels x 3 AVX-512 registers (48 pixels), 6 x 2 AVX2 registers
//! (16 pixels), 6 x 4 NEON registers (16 pixels), the shapes that
//! measured fastest on style-256's layers; what is left of a row goes
//! one register at a time, then column by column. Sums run in
//! another order than tract's kernels: results differ in float rounding
//! only.

use super::kernel::{Isa, isa};

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

/// Output channels per block on this CPU: the weights are packed for it
/// at load (`conv_op.rs`), and [`rows`] takes blocks of at most this.
pub fn block() -> usize {
    block_on(isa())
}

fn block_on(isa: Isa) -> usize {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::AVX512_BLOCK,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::AVX2_BLOCK,
        Isa::Baseline => baseline::BLOCK,
    }
}

/// Output rows `rows` of a block's channels: `input` is one image
/// `[Cin][H][W]`, `out[k]` channel `k`'s rows `rows` (`rows.len() · OW`).
///
/// # Panics
/// If the block has more channels than [`block`], or a slice is shorter
/// than the geometry says.
pub fn rows(
    geo: &Geometry,
    input: &[f32],
    block: &Block,
    rows: std::ops::Range<usize>,
    out: &mut [&mut [f32]],
) {
    rows_on(isa(), geo, input, block, rows, out)
}

/// [`rows`] on `isa`, which this CPU must have.
fn rows_on(
    isa: Isa,
    geo: &Geometry,
    input: &[f32],
    block: &Block,
    rows: std::ops::Range<usize>,
    out: &mut [&mut [f32]],
) {
    let [h, w] = geo.input;
    let [kh, kw] = geo.kernel;
    let [oh, ow] = geo.output;
    let k = out.len();
    assert!(k >= 1 && k <= block_on(isa), "a block of {k} channels");
    assert!(kh <= h && kw <= w && oh == h + 1 - kh && ow == w + 1 - kw);
    assert!(rows.end <= oh && input.len() >= geo.input_channels * h * w);
    assert!(block.weights.len() >= geo.input_channels * kh * kw * k && block.bias.len() >= k);
    assert!(out.iter().all(|o| o.len() >= rows.len() * ow));
    // SAFETY: the bounds every tile reads and writes follow from the
    // asserts above (see `tile`); the CPU has `isa`'s features.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => x86::rows_avx512(geo, input, block, rows, out),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => x86::rows_avx2(geo, input, block, rows, out),
            Isa::Baseline => baseline::rows(geo, input, block, rows, out),
        }
    }
}

/// One register of `N` lanes of f32 (or one lane, for the last columns).
trait Lanes: Copy {
    const N: usize;
    /// # Safety
    /// `N` values readable at `p`; the instruction set enabled.
    unsafe fn load(p: *const f32) -> Self;
    /// # Safety
    /// `N` values writable at `p`; the instruction set enabled.
    unsafe fn store(self, p: *mut f32);
    /// # Safety
    /// The instruction set enabled.
    unsafe fn splat(x: f32) -> Self;
    /// `a · b + self`.
    /// # Safety
    /// The instruction set enabled.
    unsafe fn madd(self, a: Self, b: Self) -> Self;
    /// A hint to bring the line at `p` into L1 (any address: a hint
    /// never faults and nothing is read).
    fn prefetch(p: *const f32);
}

/// How far ahead of the multiply-adds a tile asks for the block's
/// weights, in floats: 4 KiB, a few hundred nanoseconds of work ahead.
/// Only the first tile of a block's band streams its weights from
/// memory (the others find them in cache), and a product's matrix is
/// read once per run: without the hint dcgan-64's 8 MB layer waited on
/// memory (1.27 ms with its weights out of cache, 0.69 with it).
const AHEAD: usize = 1024;

/// Every tile of `rows` for a block of `K` channels: `R` registers `V`
/// at a time, then one, then column by column in `S`.
///
/// # Safety
/// The bounds asserted by [`rows`]; `V`'s and `S`'s instruction set enabled.
#[inline(always)]
unsafe fn block_rows<V: Lanes, S: Lanes, const K: usize, const R: usize>(
    geo: &Geometry,
    input: &[f32],
    block: &Block,
    rows: std::ops::Range<usize>,
    out: &mut [&mut [f32]],
) {
    let ow = geo.output[1];
    let mut to: [*mut f32; K] = [std::ptr::null_mut(); K];
    for (t, o) in to.iter_mut().zip(out.iter_mut()) {
        *t = o.as_mut_ptr();
    }
    for (r, y) in rows.enumerate() {
        let mut x = 0;
        // SAFETY (all three): `x + width <= ow`, so every read stays in
        // the input row and every write in the output row (`tile`).
        while x + R * V::N <= ow {
            let first = r == 0 && x == 0;
            unsafe { tile::<V, K, R>(geo, input, block, (y, x), &to, r * ow + x, first) };
            x += R * V::N;
        }
        while x + V::N <= ow {
            let first = r == 0 && x == 0;
            unsafe { tile::<V, K, 1>(geo, input, block, (y, x), &to, r * ow + x, first) };
            x += V::N;
        }
        while x < ow {
            let first = r == 0 && x == 0;
            unsafe { tile::<S, K, 1>(geo, input, block, (y, x), &to, r * ow + x, first) };
            x += 1;
        }
    }
}

/// Output pixels `x..x + R·N` of row `y` for the block's `K` channels,
/// written at `out[k] + at`; `prefetch`: ask for the weights [`AHEAD`].
///
/// # Safety
/// `x + R·N <= OW` and `y < OH`: the reads then end at input column
/// `x + R·N + kw − 2 < W` of rows `y..y + kh`, and the writes at
/// `at + R·N`, inside the rows of the band `out` holds.
#[inline(always)]
unsafe fn tile<V: Lanes, const K: usize, const R: usize>(
    geo: &Geometry,
    input: &[f32],
    block: &Block,
    (y, x): (usize, usize),
    out: &[*mut f32; K],
    at: usize,
    prefetch: bool,
) {
    let [h, w] = geo.input;
    let [kh, kw] = geo.kernel;
    unsafe {
        let mut acc = [[V::splat(0.0); R]; K];
        for (row, &b) in acc.iter_mut().zip(block.bias) {
            *row = [V::splat(b); R];
        }
        let (input, weights) = (input.as_ptr(), block.weights.as_ptr());
        for ci in 0..geo.input_channels {
            if prefetch {
                V::prefetch(weights.wrapping_add(ci * kh * kw * K + AHEAD));
            }
            for ky in 0..kh {
                let line = input.add((ci * h + y + ky) * w + x);
                let taps = weights.add((ci * kh + ky) * kw * K);
                for kx in 0..kw {
                    let mut xs = [V::splat(0.0); R];
                    for (i, v) in xs.iter_mut().enumerate() {
                        *v = V::load(line.add(kx + i * V::N));
                    }
                    for (k, row) in acc.iter_mut().enumerate() {
                        let wk = V::splat(*taps.add(kx * K + k));
                        for (a, &v) in row.iter_mut().zip(&xs) {
                            *a = a.madd(wk, v);
                        }
                    }
                }
            }
        }
        for (o, row) in out.iter().zip(&acc) {
            for (i, v) in row.iter().enumerate() {
                v.store(o.add(at + i * V::N));
            }
        }
    }
}

/// One [`Lanes`] type around the register `$reg`, from the instruction
/// set's own operations (`$madd(a, b, c)` is `a · b + c`) and prefetch.
macro_rules! lanes {
    ($(#[$m:meta])* $name:ident($reg:ty), $n:expr, $load:path, $store:path, $splat:path, $madd:path, $prefetch:path) => {
        $(#[$m])*
        #[derive(Clone, Copy)]
        pub struct $name($reg);
        impl Lanes for $name {
            const N: usize = $n;
            #[inline(always)]
            unsafe fn load(p: *const f32) -> Self {
                $name(unsafe { $load(p) })
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut f32) {
                unsafe { $store(p, self.0) }
            }
            #[inline(always)]
            unsafe fn splat(x: f32) -> Self {
                $name(unsafe { $splat(x) })
            }
            #[inline(always)]
            unsafe fn madd(self, a: Self, b: Self) -> Self {
                $name(unsafe { $madd(a.0, b.0, self.0) })
            }
            #[inline(always)]
            fn prefetch(p: *const f32) {
                $prefetch(p)
            }
        }
    };
}

/// The operations of one lane (the last columns of a row).
mod one {
    /// # Safety
    /// `p` readable.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> f32 {
        unsafe { *p }
    }
    /// # Safety
    /// `p` writable.
    #[inline(always)]
    pub unsafe fn store(p: *mut f32, x: f32) {
        unsafe { *p = x }
    }
    /// # Safety
    /// None: unsafe only to fit [`lanes!`].
    #[inline(always)]
    pub unsafe fn splat(x: f32) -> f32 {
        x
    }
    /// # Safety
    /// None; compiled to an instruction only where the target (or the
    /// caller's `target_feature`) has FMA, else a libm call.
    #[inline(always)]
    #[allow(dead_code)]
    pub unsafe fn fused(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    /// # Safety
    /// None: unsafe only to fit [`lanes!`].
    #[inline(always)]
    #[allow(dead_code)]
    pub unsafe fn separate(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    pub fn no_prefetch(_: *const f32) {}
}

lanes!(
    /// One lane with a fused multiply-add (x86 FMA contexts, AArch64).
    #[allow(dead_code)]
    Fused1(f32), 1, one::load, one::store, one::splat, one::fused, one::no_prefetch
);

/// Every block width for one register type, each `channels => registers
/// per tile`: the block's channel count and the tile's width are
/// compile-time constants of the tile.
macro_rules! by_width {
    ($v:ty, $s:ty, $geo:expr, $input:expr, $block:expr, $rows:expr, $out:expr; $($k:literal => $r:literal),+) => {
        match $out.len() {
            $($k => block_rows::<$v, $s, $k, $r>($geo, $input, $block, $rows, $out),)+
            k => unreachable!("a block of {k} channels"),
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Block, Fused1, Geometry, Lanes, block_rows};
    use std::arch::x86_64::*;

    pub const AVX512_BLOCK: usize = 8;
    pub const AVX2_BLOCK: usize = 6;

    #[inline(always)]
    pub fn prefetch(p: *const f32) {
        // SAFETY: a prefetch reads nothing and never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
    }

    lanes!(
        Avx512(__m512),
        16,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        prefetch
    );
    lanes!(
        Avx2(__m256),
        8,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        prefetch
    );

    /// 8 channels x 3 registers: 24 accumulators, 3 inputs and a
    /// broadcast of the 32 registers.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn rows_avx512(
        geo: &Geometry,
        input: &[f32],
        block: &Block,
        rows: std::ops::Range<usize>,
        out: &mut [&mut [f32]],
    ) {
        unsafe {
            by_width!(Avx512, Fused1, geo, input, block, rows, out; 1 => 8, 2 => 8, 3 => 4, 4 => 4, 5 => 4, 6 => 4, 7 => 3, 8 => 3)
        }
    }

    /// 6 channels x 2 registers: 12 accumulators, 2 inputs and a
    /// broadcast of the 16 registers.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rows_avx2(
        geo: &Geometry,
        input: &[f32],
        block: &Block,
        rows: std::ops::Range<usize>,
        out: &mut [&mut [f32]],
    ) {
        unsafe {
            by_width!(Avx2, Fused1, geo, input, block, rows, out; 1 => 4, 2 => 4, 3 => 3, 4 => 2, 5 => 2, 6 => 2)
        }
    }
}

/// NEON on aarch64 (always there, with a fused multiply-add).
#[cfg(target_arch = "aarch64")]
mod baseline {
    use super::{Block, Fused1, Geometry, Lanes, block_rows};
    use std::arch::aarch64::*;

    pub const BLOCK: usize = 6;

    /// `a · b + c` (NEON's operand order is `c, a, b`).
    #[inline(always)]
    unsafe fn madd(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        unsafe { vfmaq_f32(c, a, b) }
    }

    #[inline(always)]
    fn prefetch(p: *const f32) {
        // SAFETY: a prefetch reads nothing and never faults.
        unsafe {
            std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags))
        }
    }

    lanes!(
        Neon(float32x4_t),
        4,
        vld1q_f32,
        vst1q_f32,
        vdupq_n_f32,
        madd,
        prefetch
    );

    /// 6 channels x 4 registers: 24 accumulators of the 32.
    pub unsafe fn rows(
        geo: &Geometry,
        input: &[f32],
        block: &Block,
        rows: std::ops::Range<usize>,
        out: &mut [&mut [f32]],
    ) {
        unsafe {
            by_width!(Neon, Fused1, geo, input, block, rows, out; 1 => 8, 2 => 8, 3 => 6, 4 => 4, 5 => 4, 6 => 4)
        }
    }
}

/// SSE2 on x86_64 without AVX2 or FMA: multiply, then add (a fused
/// multiply-add would be a libm call), as the rest of easel's kernels.
#[cfg(not(target_arch = "aarch64"))]
mod baseline {
    use super::{Block, Geometry, Lanes, block_rows, one};
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::*;

    pub const BLOCK: usize = 4;

    /// `a · b + c`, not fused.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn madd(a: __m128, b: __m128, c: __m128) -> __m128 {
        unsafe { _mm_add_ps(_mm_mul_ps(a, b), c) }
    }

    #[cfg(target_arch = "x86_64")]
    lanes!(
        Sse(__m128),
        4,
        _mm_loadu_ps,
        _mm_storeu_ps,
        _mm_set1_ps,
        madd,
        super::x86::prefetch
    );

    lanes!(
        /// One lane, multiply then add.
        Separate1(f32), 1, one::load, one::store, one::splat, one::separate, one::no_prefetch
    );

    #[cfg(not(target_arch = "x86_64"))]
    type Sse = Separate1;

    /// 4 channels x 2 registers: 8 accumulators of the 16.
    pub unsafe fn rows(
        geo: &Geometry,
        input: &[f32],
        block: &Block,
        rows: std::ops::Range<usize>,
        out: &mut [&mut [f32]],
    ) {
        unsafe {
            by_width!(Sse, Separate1, geo, input, block, rows, out; 1 => 4, 2 => 4, 3 => 2, 4 => 2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every instruction set this CPU has, not only the best one.
    fn available() -> Vec<Isa> {
        let mut all = vec![Isa::Baseline];
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma && std::arch::is_x86_feature_detected!("avx2") {
                all.push(Isa::Avx2);
            }
            if fma && std::arch::is_x86_feature_detected!("avx512f") {
                all.push(Isa::Avx512);
            }
        }
        all
    }

    /// Against a plain loop, with rows that leave partial tiles (full
    /// tiles, one-register tiles and single columns), every block width
    /// of every instruction set this CPU has.
    #[test]
    fn the_tiles_sum_every_tap() {
        for isa in available() {
            tiles_sum_every_tap(isa);
        }
    }

    fn tiles_sum_every_tap(isa: Isa) {
        let (cin, h, w, kh, kw) = (3, 7, 83, 3, 2);
        let geo = Geometry {
            input_channels: cin,
            input: [h, w],
            kernel: [kh, kw],
            output: [h - kh + 1, w - kw + 1],
        };
        let input: Vec<f32> = (0..cin * h * w).map(|i| (i as f32 * 0.37).sin()).collect();
        let [oh, ow] = geo.output;
        for k in 1..=block_on(isa) {
            let weights: Vec<f32> = (0..cin * kh * kw * k)
                .map(|i| (i as f32 * 0.11).cos())
                .collect();
            let bias: Vec<f32> = (0..k).map(|o| o as f32 * 0.75 - 1.0).collect();
            let mut planes = vec![vec![0.0f32; oh * ow]; k];
            let block = Block {
                weights: &weights,
                bias: &bias,
            };
            // Two calls, so a band that starts past row 0 is covered.
            let (mut top, mut bottom): (Vec<_>, Vec<_>) =
                planes.iter_mut().map(|p| p.split_at_mut(2 * ow)).unzip();
            rows_on(isa, &geo, &input, &block, 0..2, &mut top);
            rows_on(isa, &geo, &input, &block, 2..oh, &mut bottom);
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
                        assert!(
                            (got - want).abs() < 1e-4,
                            "{isa:?}, block of {k}: [{o}][{y}][{x}] {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
