//! `EaselDirectConv`: a stride-1, unpadded f32 convolution over
//! `[N, Cin, H, W]` images computed straight from the input
//! (`conv_kernel.rs`), output channels in blocks of the CPU's kernel
//! ([`conv_kernel::block`]), each block's rows in bands split over the
//! run's tract executor.

use super::conv_kernel::{self, Block, Geometry};
use std::sync::Arc;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

/// Output rows per unit of parallel work.
const BAND: usize = 8;

#[derive(Clone, PartialEq)]
pub struct DirectConv {
    /// `[N, Cin, H, W]` read.
    pub input: [usize; 4],
    pub output_channels: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Output channels per block (the kernel's on this CPU).
    pub block: usize,
    /// Per block of output channels, `[Cin][kh][kw][block]`.
    pub weights: Arc<Vec<Vec<f32>>>,
    pub bias: Arc<Vec<f32>>,
}

impl Eq for DirectConv {}

/// Geometry, not weights: tract prints ops in its dumps and errors.
impl std::fmt::Debug for DirectConv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DirectConv({:?} -> {} channels, kernel {:?})",
            self.input, self.output_channels, self.kernel
        )
    }
}

impl DirectConv {
    /// The op for an OIHW `kernel` (`[Cout, Cin, kh, kw]` values) and one
    /// bias per output channel over `input`.
    pub fn new(input: [usize; 4], kernel: [usize; 4], values: &[f32], bias: Vec<f32>) -> Self {
        let [cout, cin, kh, kw] = kernel;
        let taps = kh * kw;
        let block = conv_kernel::block();
        let weights = (0..cout)
            .step_by(block)
            .map(|first| {
                let k = block.min(cout - first);
                let mut packed = Vec::with_capacity(cin * taps * k);
                for i in 0..cin {
                    for t in 0..taps {
                        for o in first..first + k {
                            packed.push(values[(o * cin + i) * taps + t]);
                        }
                    }
                }
                packed
            })
            .collect();
        DirectConv {
            input,
            output_channels: cout,
            kernel: [kh, kw],
            block,
            weights: Arc::new(weights),
            bias: Arc::new(bias),
        }
    }

    fn geometry(&self) -> Geometry {
        let [_, cin, h, w] = self.input;
        let [kh, kw] = self.kernel;
        Geometry {
            input_channels: cin,
            input: [h, w],
            kernel: [kh, kw],
            output: [h + 1 - kh, w + 1 - kw],
        }
    }

    /// `[N, Cout, OH, OW]`.
    pub fn output_shape(&self) -> [usize; 4] {
        let [oh, ow] = self.geometry().output;
        [self.input[0], self.output_channels, oh, ow]
    }
}

/// One unit of work: rows `first..` of one image's block of channels.
struct Band<'a> {
    image: usize,
    block: usize,
    first: usize,
    /// One slice per channel of the block.
    out: Vec<&'a mut [f32]>,
}

impl Op for DirectConv {
    fn name(&self) -> StaticName {
        "EaselDirectConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{self:?}")])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for DirectConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let ram = inputs[0].try_as_plain_ram()?;
        let input = ram.as_slice::<f32>()?;
        let [n, cin, h, w] = self.input;
        let image = cin * h * w;
        ensure!(
            input.len() == n * image,
            "EaselDirectConv: input of {} values, not {:?}",
            input.len(),
            self.input
        );
        let geo = self.geometry();
        let [oh, ow] = geo.output;
        let mut output = Tensor::zero::<f32>(&self.output_shape())?;
        {
            let mut out = output.try_as_plain_ram_mut()?;
            let out = out.as_slice_mut::<f32>()?;
            // Plane by plane into bands of rows, gathered per (image,
            // band, block): each band one slice per channel of its block.
            // The blocks of a band follow each other, so the input rows
            // they all read stay in cache between them.
            let bands_per_plane = oh.div_ceil(BAND);
            let blocks = self.weights.len();
            let mut bands: Vec<Band> = (0..n * bands_per_plane * blocks)
                .map(|i| Band {
                    image: i / (bands_per_plane * blocks),
                    block: i % blocks,
                    first: i / blocks % bands_per_plane * BAND,
                    out: Vec::with_capacity(self.block),
                })
                .collect();
            for (p, plane) in out.chunks_mut(oh * ow).enumerate() {
                let (b, o) = (p / self.output_channels, p % self.output_channels);
                for (r, rows) in plane.chunks_mut(BAND * ow).enumerate() {
                    bands[(b * bands_per_plane + r) * blocks + o / self.block]
                        .out
                        .push(rows);
                }
            }
            let one = |band: &mut Band| {
                let first = band.block * self.block;
                let block = Block {
                    weights: &self.weights[band.block],
                    bias: &self.bias[first..first + band.out.len()],
                };
                let rows = band.first..(band.first + BAND).min(oh);
                let input = &input[band.image * image..][..image];
                conv_kernel::rows(&geo, input, &block, rows, &mut band.out)
            };
            match super::parallel_pool() {
                Some(pool) => pool.install(|| {
                    use rayon::prelude::*;
                    bands.par_iter_mut().for_each(one)
                }),
                None => bands.iter_mut().for_each(one),
            }
        }
        Ok(tvec![output.into_tvalue()])
    }
}

impl TypedOp for DirectConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].datum_type == f32::datum_type(),
            "EaselDirectConv runs on f32"
        );
        Ok(tvec![f32::fact(self.output_shape())])
    }

    as_op!();
}
