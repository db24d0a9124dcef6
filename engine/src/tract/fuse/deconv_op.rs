//! `EaselDeconvSum`: the second half of a transposed convolution. Input 0
//! is tract's product `[C·kh·kw, N·H·W]` (row `(c, ky, kx)`, one column
//! per image and input pixel); the output `[N, C, OH, OW]` is, per
//! channel, the sum of every tap at its place (`o = i·stride - pad +
//! k·dilation` on each axis), then `· scale + shift` (the convolution's
//! bias and any batch norm after it) and the ReLU when one followed.
//!
//! Channel by channel, so the plane being summed stays in L1 (64x64
//! floats are 16 KiB). The output is summed as its `stride` phases (on
//! each axis, output `a·s + r` is value `a` of phase `r`): a tap then
//! adds its whole input plane, shifted, into one phase with unit-stride
//! (vectorised) adds, where a scatter into the output would stride. The
//! phases are interleaved into the output once, finished on the way.
//! Channels are split over the run's tract executor. The taps are added
//! in another order than tract's scatter (and the bias last instead of
//! first): results differ in float rounding only.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

#[derive(Clone, PartialEq)]
pub struct DeconvSum {
    /// Output channels.
    pub channels: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    pub pad_before: [usize; 2],
    /// `[H, W]` of the convolution's input.
    pub input: [usize; 2],
    /// `[OH, OW]`.
    pub output: [usize; 2],
    /// Per channel, applied after the taps are summed.
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
    /// `max(0, ·)` last.
    pub relu: bool,
    /// Images: the product's columns are `(image, pixel)`, so one read
    /// of the weights serves every image of a batch.
    pub batch: usize,
}

impl Eq for DeconvSum {}

/// Geometry, not values: tract prints ops in its dumps and errors.
impl std::fmt::Debug for DeconvSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DeconvSum({} channels, kernel {:?}, stride {:?}, {:?} -> {:?}{})",
            self.channels,
            self.kernel,
            self.strides,
            self.input,
            self.output,
            if self.relu { ", relu" } else { "" }
        )
    }
}

impl DeconvSum {
    /// `[batch, C, OH, OW]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.channels, self.output[0], self.output[1]]
    }

    /// Taps per channel, `kh · kw`.
    pub fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    /// Where each tap lands, worked out once per run.
    fn plan(&self) -> Plan {
        let axes = [0, 1].map(|axis| self.axis(axis));
        let [ys, xs] = &axes;
        let mut offsets = Vec::with_capacity(ys.lens.len() * xs.lens.len());
        let mut at = 0;
        for ly in &ys.lens {
            for lx in &xs.lens {
                offsets.push(at);
                at += ly * lx;
            }
        }
        let mut taps = Vec::with_capacity(self.taps());
        for ty in &ys.taps {
            for tx in &xs.taps {
                taps.push(TapPlan {
                    offset: offsets[ty.phase * xs.lens.len() + tx.phase],
                    width: xs.lens[tx.phase],
                    rows: ty.span.clone(),
                    shift_y: ty.shift,
                    columns: tx.span.clone(),
                    shift_x: tx.shift,
                });
            }
        }
        Plan {
            axes,
            offsets,
            taps,
        }
    }

    /// One axis split into its `stride` phases: output `o = a·s + r` is
    /// value `a` of phase `r`, and tap `k` puts input `i` at phase `r_k`,
    /// value `i + q_k`, where `k·d - p = q_k·s + r_k`.
    fn axis(&self, axis: usize) -> AxisPlan {
        let s = self.strides[axis];
        let out = self.output[axis];
        let lens: Vec<usize> = (0..s).map(|r| (out + s - 1 - r) / s).collect();
        let taps = (0..self.kernel[axis])
            .map(|k| {
                let t = (k * self.dilations[axis]) as isize - self.pad_before[axis] as isize;
                let (q, r) = (t.div_euclid(s as isize), t.rem_euclid(s as isize) as usize);
                // Values a = i + q with 0 <= i < input and 0 <= a < lens[r].
                let first = q.max(0) as usize;
                let end = (self.input[axis] as isize + q).clamp(0, lens[r] as isize) as usize;
                AxisTap {
                    phase: r,
                    shift: q,
                    span: first..end.max(first),
                }
            })
            .collect();
        AxisPlan { lens, taps }
    }

    /// Sums channel `c`'s taps (`cols`: tap `t`'s `H·W` values start at
    /// `t · stride`) into `scratch` phase by phase (unit-stride adds),
    /// then writes `plane` (`OH·OW`) from the phases, finished.
    fn channel(
        &self,
        plan: &Plan,
        c: usize,
        (cols, stride): (&[f32], usize),
        scratch: &mut [f32],
        plane: &mut [f32],
    ) {
        let [h, w] = self.input;
        scratch.fill(0.0);
        for (t, tap) in plan.taps.iter().enumerate() {
            if tap.columns.is_empty() {
                continue;
            }
            let src = &cols[t * stride..][..h * w];
            let n = tap.columns.len();
            let from = (tap.columns.start as isize - tap.shift_x) as usize;
            for a in tap.rows.clone() {
                let iy = (a as isize - tap.shift_y) as usize;
                let src = &src[iy * w + from..][..n];
                let dst = &mut scratch[tap.offset + a * tap.width + tap.columns.start..][..n];
                dst.iter_mut().zip(src).for_each(|(o, v)| *o += v);
            }
        }
        let (scale, shift) = (self.scale[c], self.shift[c]);
        if self.relu {
            self.interleave(plan, scratch, plane, |v| (v * scale + shift).max(0.0))
        } else {
            self.interleave(plan, scratch, plane, |v| v * scale + shift)
        }
    }

    /// `plane[a·sy + ry][b·sx + rx] = finish(phase (ry, rx)[a][b])`.
    fn interleave(
        &self,
        plan: &Plan,
        scratch: &[f32],
        plane: &mut [f32],
        finish: impl Fn(f32) -> f32,
    ) {
        let [sy, sx] = self.strides;
        let [_, ow] = self.output;
        let xs = &plan.axes[1].lens;
        for (oy, row) in plane.chunks_exact_mut(ow).enumerate() {
            let (a, ry) = (oy / sy, oy % sy);
            let phase = |rx: usize| {
                let len = xs[rx];
                &scratch[plan.offsets[ry * sx + rx] + a * len..][..len]
            };
            match sx {
                1 => row
                    .iter_mut()
                    .zip(phase(0))
                    .for_each(|(o, &v)| *o = finish(v)),
                2 => {
                    let (even, odd) = (phase(0), phase(1));
                    for (pair, (&e, &o)) in row.chunks_exact_mut(2).zip(even.iter().zip(odd)) {
                        pair[0] = finish(e);
                        pair[1] = finish(o);
                    }
                    if ow % 2 == 1 {
                        row[ow - 1] = finish(even[ow / 2]);
                    }
                }
                _ => {
                    for rx in 0..sx {
                        for (o, &v) in row[rx..].iter_mut().step_by(sx).zip(phase(rx)) {
                            *o = finish(v);
                        }
                    }
                }
            }
        }
    }
}

/// Where a run's taps land (`DeconvSum::plan`).
struct Plan {
    /// `[y, x]`.
    axes: [AxisPlan; 2],
    /// Phase `(ry, rx)` starts at `offsets[ry · sx + rx]` of the scratch.
    offsets: Vec<usize>,
    /// In the order of the taps' rows, `(ky, kx)`.
    taps: Vec<TapPlan>,
}

struct AxisPlan {
    /// Values per phase.
    lens: Vec<usize>,
    taps: Vec<AxisTap>,
}

struct AxisTap {
    phase: usize,
    /// `q`: input `i` lands at phase value `i + q`.
    shift: isize,
    /// The phase values it reaches.
    span: std::ops::Range<usize>,
}

/// One tap `(ky, kx)`: its phase's place in the scratch and width, and
/// the phase rows and columns it adds to.
struct TapPlan {
    offset: usize,
    width: usize,
    rows: std::ops::Range<usize>,
    shift_y: isize,
    columns: std::ops::Range<usize>,
    shift_x: isize,
}

impl Op for DeconvSum {
    fn name(&self) -> StaticName {
        "EaselDeconvSum".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{self:?}")])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for DeconvSum {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let ram = inputs[0].try_as_plain_ram()?;
        let cols = ram.as_slice::<f32>()?;
        let pixels = self.input[0] * self.input[1];
        // Row (c, t) of the product holds every image's pixels.
        let stride = self.batch * pixels;
        ensure!(
            cols.len() == self.channels * self.taps() * stride,
            "EaselDeconvSum: input of {} values, not {} rows x {stride}",
            cols.len(),
            self.channels * self.taps()
        );
        let plane = self.output[0] * self.output[1];
        let mut output = Tensor::zero::<f32>(&self.output_shape())?;
        {
            let mut out = output.try_as_plain_ram_mut()?;
            let out = out.as_slice_mut::<f32>()?;
            let plan = self.plan();
            // Output plane `i` is image `i / C`, channel `i % C`.
            let one = |scratch: &mut Vec<f32>, (i, out): (usize, &mut [f32])| {
                let (b, c) = (i / self.channels, i % self.channels);
                let cols = &cols[c * self.taps() * stride + b * pixels..];
                self.channel(&plan, c, (cols, stride), scratch, out)
            };
            match super::parallel_pool() {
                Some(pool) => pool.install(|| {
                    use rayon::prelude::*;
                    out.par_chunks_mut(plane)
                        .enumerate()
                        .for_each_init(|| vec![0.0; plane], one)
                }),
                None => {
                    let mut scratch = vec![0.0; plane];
                    out.chunks_mut(plane)
                        .enumerate()
                        .for_each(|item| one(&mut scratch, item))
                }
            }
        }
        Ok(tvec![output.into_tvalue()])
    }
}

impl TypedOp for DeconvSum {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].datum_type == f32::datum_type(),
            "EaselDeconvSum runs on f32"
        );
        Ok(tvec![f32::fact(self.output_shape())])
    }

    as_op!();
}
