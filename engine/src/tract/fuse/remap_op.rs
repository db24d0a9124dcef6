//! `EaselRemap`: every plane of an `[N, C, H, W]` tensor read through two
//! index maps, `out[n][c][y][x] = in[n][c][rows[y]][columns[x]]` —
//! nearest up-sampling, reflect and edge padding, and any run of them
//! (`remap.rs` finds them). A copy: the output is exactly tract's.
//!
//! A row that repeats the row above (up-sampling) is copied from the
//! output just written; within a row, runs of consecutive columns (the
//! middle of a padded row) are copied whole and the rest gathered value by
//! value. Planes are split over the run's tract executor.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

#[derive(Clone, PartialEq, Eq)]
pub struct Remap {
    /// `[N, C, H, W]` read.
    pub input: [usize; 4],
    /// Output row `y` reads input row `rows[y]`.
    pub rows: Vec<u32>,
    /// Output column `x` reads input column `columns[x]`.
    pub columns: Vec<u32>,
}

/// Geometry, not maps: tract prints ops in its dumps and errors.
impl std::fmt::Debug for Remap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remap({:?} -> {:?})", self.input, self.output_shape())
    }
}

/// Consecutive columns from here on: copied whole.
const RUN: usize = 8;

/// Output columns `dst..dst + len` read input columns `src..src + len`.
struct Segment {
    dst: usize,
    src: usize,
    len: usize,
}

impl Remap {
    /// `[N, C, rows, columns]`.
    pub fn output_shape(&self) -> [usize; 4] {
        let [n, c, ..] = self.input;
        [n, c, self.rows.len(), self.columns.len()]
    }

    /// This remap followed by one whose output row `y` reads this one's
    /// row `rows[y]` (and columns likewise).
    pub fn then(&self, rows: &[u32], columns: &[u32]) -> Remap {
        let through = |first: &[u32], second: &[u32]| -> Vec<u32> {
            second.iter().map(|&i| first[i as usize]).collect()
        };
        Remap {
            input: self.input,
            rows: through(&self.rows, rows),
            columns: through(&self.columns, columns),
        }
    }

    /// The columns as runs of consecutive reads.
    fn segments(&self) -> Vec<Segment> {
        let mut segments: Vec<Segment> = Vec::new();
        for (x, &i) in self.columns.iter().enumerate() {
            match segments.last_mut() {
                Some(s) if s.src + s.len == i as usize => s.len += 1,
                _ => segments.push(Segment {
                    dst: x,
                    src: i as usize,
                    len: 1,
                }),
            }
        }
        segments
    }

    /// One plane: `input` is `H·W`, `output` `rows·columns`.
    fn plane(&self, segments: &[Segment], input: &[f32], output: &mut [f32]) {
        let (w, ow) = (self.input[3], self.columns.len());
        for (y, &iy) in self.rows.iter().enumerate() {
            if y > 0 && self.rows[y - 1] == iy {
                output.copy_within((y - 1) * ow..y * ow, y * ow);
                continue;
            }
            let src = &input[iy as usize * w..][..w];
            let dst = &mut output[y * ow..][..ow];
            for s in segments {
                let (dst, src) = (&mut dst[s.dst..][..s.len], &src[s.src..][..s.len]);
                if s.len >= RUN {
                    dst.copy_from_slice(src);
                } else {
                    dst.iter_mut().zip(src).for_each(|(d, v)| *d = *v);
                }
            }
        }
    }
}

impl Op for Remap {
    fn name(&self) -> StaticName {
        "EaselRemap".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{self:?}")])
    }

    op_as_typed_op!();
}

impl EvalOp for Remap {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let ram = inputs[0].try_as_plain_ram()?;
        let input = ram.as_slice::<f32>()?;
        let [n, c, h, w] = self.input;
        ensure!(
            input.len() == n * c * h * w,
            "EaselRemap: input of {} values, not {:?}",
            input.len(),
            self.input
        );
        let plane = self.rows.len() * self.columns.len();
        let mut output = Tensor::zero::<f32>(&self.output_shape())?;
        {
            let mut out = output.try_as_plain_ram_mut()?;
            let out = out.as_slice_mut::<f32>()?;
            let segments = self.segments();
            let one = |(i, out): (usize, &mut [f32])| {
                self.plane(&segments, &input[i * h * w..][..h * w], out)
            };
            match super::parallel_pool() {
                Some(pool) => pool.install(|| {
                    use rayon::prelude::*;
                    out.par_chunks_mut(plane).enumerate().for_each(one)
                }),
                None => out.chunks_mut(plane).enumerate().for_each(one),
            }
        }
        Ok(tvec![output.into_tvalue()])
    }
}

impl TypedOp for Remap {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].datum_type == f32::datum_type(),
            "EaselRemap runs on f32"
        );
        Ok(tvec![f32::fact(self.output_shape())])
    }

    as_op!();
}
