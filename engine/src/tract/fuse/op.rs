//! `EaselPointwiseChain`: a chain of 1x1 convolutions, per-channel adds
//! and activations as one tract op, evaluated tile by tile (`kernel.rs`).
//! Input 0 is the chain's `[1.., C, H, W]` tensor; inputs 1.. are
//! per-channel vectors the graph computes per run (a CPPN's latent term),
//! each added where its [`Stage::AddInput`] says.

use super::kernel::{self, Step, TILE};
use super::maps::Map;
use std::sync::Arc;
use tract_linalg::Func;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

/// One stage of the chain, as found in the graph.
#[derive(Clone, PartialEq)]
pub enum Stage {
    /// A 1x1 convolution: `weights` is `[outputs][inputs]`, row-major.
    Linear {
        outputs: usize,
        inputs: usize,
        weights: Arc<Vec<f32>>,
    },
    /// A per-channel constant added.
    AddConst(Arc<Vec<f32>>),
    /// The op's input `n` (a per-channel vector) added.
    AddInput(usize),
    /// An element-wise function tract-linalg has a vectorised kernel for.
    Linalg(Func),
    /// One of easel's own element-wise functions.
    Map(Map),
}

/// The functions of [`Stage::Linalg`]: what `steps` asks tract-linalg for.
const LINALG: [Func; 3] = [Func::Tanh, Func::Sigmoid, Func::Exp];

/// Shapes, not weights: tract prints ops in its dumps and errors.
impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Linear {
                outputs, inputs, ..
            } => write!(f, "{inputs}->{outputs}"),
            Stage::AddConst(_) => write!(f, "+bias"),
            Stage::AddInput(n) => write!(f, "+input{n}"),
            Stage::Linalg(func) => write!(f, "{}", func.name()),
            Stage::Map(map) => write!(f, "{}", map.name()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PointwiseChain {
    pub stages: Vec<Stage>,
    /// Channels of input 0.
    pub input_channels: usize,
    /// `H * W`.
    pub pixels: usize,
    /// The last stage's output shape, as the graph had it.
    pub output_shape: TVec<usize>,
}

impl Eq for PointwiseChain {}

impl PointwiseChain {
    /// Widest tensor along the chain, in channels.
    fn widest(&self) -> usize {
        self.stages
            .iter()
            .filter_map(|s| match s {
                Stage::Linear { outputs, .. } => Some(*outputs),
                _ => None,
            })
            .chain([self.input_channels])
            .max()
            .unwrap_or(0)
    }

    fn output_channels(&self) -> usize {
        self.stages
            .iter()
            .rev()
            .find_map(|s| match s {
                Stage::Linear { outputs, .. } => Some(*outputs),
                _ => None,
            })
            .unwrap_or(self.input_channels)
    }

    /// The stages for one run: adds folded into the product before them
    /// (as its bias), activations as tract-linalg kernels.
    fn steps<'a>(
        &'a self,
        vectors: &[&[f32]],
        kernels: &'a [Box<dyn tract_linalg::element_wise::ElementWise<f32>>],
    ) -> TractResult<Vec<Step<'a>>> {
        let mut steps: Vec<Step> = Vec::new();
        for stage in &self.stages {
            let vector: Option<&[f32]> = match stage {
                Stage::AddConst(v) => Some(v),
                Stage::AddInput(n) => Some(
                    vectors
                        .get(n - 1)
                        .copied()
                        .with_context(|| format!("no input {n}"))?,
                ),
                _ => None,
            };
            match (stage, vector, steps.last_mut()) {
                (_, Some(v), Some(Step::Linear { bias, .. })) => {
                    bias.iter_mut().zip(v).for_each(|(b, x)| *b += x)
                }
                (_, Some(v), _) => steps.push(Step::Add(v.to_vec())),
                (
                    Stage::Linear {
                        outputs,
                        inputs,
                        weights,
                    },
                    None,
                    _,
                ) => steps.push(Step::Linear {
                    outputs: *outputs,
                    inputs: *inputs,
                    weights,
                    bias: vec![0.0; *outputs],
                }),
                (Stage::Linalg(func), None, _) => {
                    let at = LINALG
                        .iter()
                        .position(|f| f == func)
                        .with_context(|| format!("no kernel for {}", func.name()))?;
                    steps.push(Step::Activation(&*kernels[at]))
                }
                (Stage::Map(map), None, _) => steps.push(Step::Map(*map)),
                (Stage::AddConst(_) | Stage::AddInput(_), None, _) => unreachable!(),
            }
        }
        Ok(steps)
    }
}

impl Op for PointwiseChain {
    fn name(&self) -> StaticName {
        "EaselPointwiseChain".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let names: Vec<String> = self.stages.iter().map(|s| format!("{s:?}")).collect();
        Ok(vec![names.join(" "), format!("{} pixels", self.pixels)])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for PointwiseChain {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let kernels = LINALG
            .iter()
            .map(|f| f.ew_f32())
            .collect::<TractResult<Vec<_>>>()?;
        let rams: Vec<_> = inputs
            .iter()
            .map(|t| t.try_as_plain_ram())
            .collect::<TractResult<_>>()?;
        let slices: Vec<&[f32]> = rams
            .iter()
            .map(|r| r.as_slice::<f32>())
            .collect::<TractResult<_>>()?;
        let x = slices[0];
        ensure!(
            x.len() == self.input_channels * self.pixels,
            "EaselPointwiseChain: input of {} values, not {} x {}",
            x.len(),
            self.input_channels,
            self.pixels
        );
        let steps = self.steps(&slices[1..], &kernels)?;
        let mut output = Tensor::zero::<f32>(&self.output_shape)?;
        {
            let mut ram = output.try_as_plain_ram_mut()?;
            let out = ram.as_slice_mut::<f32>()?;
            run(self, &steps, x, out).map_err(|e| format_err!("EaselPointwiseChain: {e}"))?;
        }
        Ok(tvec![output.into_tvalue()])
    }
}

/// Splits the pixels over the run's tract executor (the engine's pool,
/// or one thread in a morph lane), each part tile by tile.
fn run(chain: &PointwiseChain, steps: &[Step], x: &[f32], out: &mut [f32]) -> Result<(), String> {
    let pixels = chain.pixels;
    let widest = chain.widest();
    let pool = super::parallel_pool();
    let parts = pool.as_ref().map_or(1, |p| 4 * p.current_num_threads());
    let chunk = pixels.div_ceil(parts).div_ceil(TILE) * TILE;
    let mut per_part: Vec<Vec<&mut [f32]>> = Vec::new();
    for row in out.chunks_mut(pixels) {
        for (k, part) in row.chunks_mut(chunk.max(1)).enumerate() {
            if per_part.len() <= k {
                per_part.push(Vec::new());
            }
            per_part[k].push(part);
        }
    }
    debug_assert!(per_part.iter().all(|p| p.len() == chain.output_channels()));
    let one = |(k, mut part): (usize, Vec<&mut [f32]>)| {
        kernel::run_tiles(
            steps,
            widest,
            x,
            chain.input_channels,
            pixels,
            k * chunk,
            &mut part,
        )
    };
    match pool {
        Some(pool) => pool.install(|| {
            use rayon::prelude::*;
            per_part.into_par_iter().enumerate().try_for_each(one)
        }),
        None => per_part.into_iter().enumerate().try_for_each(one),
    }
}

impl TypedOp for PointwiseChain {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs.iter().all(|f| f.datum_type == f32::datum_type()),
            "EaselPointwiseChain runs on f32"
        );
        Ok(tvec![f32::fact(&*self.output_shape)])
    }

    as_op!();
}
