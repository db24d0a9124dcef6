//! easel's own fast paths inside tract: patterns of a typed, decluttered
//! model replaced by easel's ops before tract optimizes the rest.
//!
//! Four so far. A **pointwise chain** — two or more 1x1 convolutions
//! (tract's `EinSum` `…IHW,OI->…OHW` with constant weights) with the
//! per-channel adds and element-wise functions between and after them
//! (`Tanh`, `Sigmoid`, `Exp` through tract-linalg's kernels; `Sin`, `Cos`,
//! `Square`, `Neg`, `Abs` through easel's own, `maps.rs`), on one image —
//! becomes one [`op::PointwiseChain`] evaluated tile by tile
//! (`kernel.rs`). That is the whole of a CPPN, a classic one with sine
//! and Gaussian `exp(-x²)` layers included, and the head of many
//! generators.
//!
//! And a **transposed convolution** (`deconv.rs`) with the per-channel
//! scale, shift and ReLU after it becomes a matrix product (easel's
//! direct kernel as a 1x1 convolution, or tract's on a single pixel) and
//! one [`deconv_op::DeconvSum`] that sums the taps into each output
//! plane in cache and finishes it there (a DCGAN's layers).
//!
//! And nearest **up-sampling and reflect or edge padding** (`remap.rs`),
//! alone or one after the other, become one [`remap_op::Remap`]: a copy
//! through index maps worked out at load (a style network's decoder).
//!
//! And a stride-1 **direct convolution** (`conv.rs`) becomes one
//! [`conv_op::DirectConv`] that reads the input where it lies, with no
//! im2col matrix (`conv_kernel.rs`).
//!
//! Applied at every load (`tract::load::optimize`); set
//! `EASEL_TRACT_FUSE=0` in the environment to load models as tract alone
//! would (benchmarks compare both).

mod conv;
mod conv_kernel;
mod conv_op;
mod deconv;
mod deconv_op;
mod kernel;
mod maps;
mod op;
mod remap;
mod remap_op;

use maps::Map;
use op::{PointwiseChain, Stage};
use std::sync::Arc;
use tract_linalg::Func;
use tract_linalg::multithread::{Executor, current_tract_executor};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;

/// The environment variable that turns the fast paths off (`0`).
pub const SWITCH: &str = "EASEL_TRACT_FUSE";

/// Whether fast paths apply to models loaded now.
pub fn enabled() -> bool {
    std::env::var(SWITCH).map_or(true, |v| v != "0")
}

/// A typed model as the engine hands it to `into_optimized`: with the
/// fast paths in, unless [`SWITCH`] is `0` (then as it came: the patterns
/// are found on a decluttered model, and `into_optimized` declutters
/// anyway, so the model is decluttered here only to fuse).
pub fn fast_paths(typed: TypedModel) -> TractResult<TypedModel> {
    if !enabled() {
        return Ok(typed);
    }
    let mut typed = typed.into_decluttered()?;
    fuse(&mut typed)?;
    Ok(typed)
}

/// Puts every fast path into `model`; how many ops it replaced.
pub fn fuse(model: &mut TypedModel) -> TractResult<usize> {
    Ok(fuse_chains(model)? + deconv::fuse(model)? + remap::fuse(model)? + conv::fuse(model)?)
}

/// Finds a pattern at the first node (in evaluation order) where `find`
/// sees one, puts `wire`'s patch in, and again until none is left; how
/// many. Each patch replaces two or more nodes by fewer: bounded.
fn replace_each<T>(
    model: &mut TypedModel,
    find: impl Fn(&TypedModel, usize) -> Option<T>,
    wire: impl Fn(&TypedModel, T) -> TractResult<TypedModelPatch>,
) -> TractResult<usize> {
    let mut replaced = 0;
    for _ in 0..model.nodes().len() {
        let Some(found) = model
            .eval_order()?
            .into_iter()
            .find_map(|id| find(model, id))
        else {
            break;
        };
        wire(model, found)?.apply(model)?;
        *model = std::mem::take(model).into_compact()?;
        replaced += 1;
    }
    Ok(replaced)
}

/// Replaces every pointwise chain of `model` by one op; how many.
fn fuse_chains(model: &mut TypedModel) -> TractResult<usize> {
    replace_each(model, find_chain, |model, chain| {
        let mut patch = TypedModelPatch::new("easel pointwise chain");
        let mut taps = tvec![patch.tap_model(model, chain.input)?];
        for v in &chain.vectors {
            taps.push(patch.tap_model(model, *v)?);
        }
        let name = format!("{}.easel_chain", model.node(chain.last).name);
        let out = patch.wire_node(name, chain.op, &taps)?;
        patch.shunt_outside(model, OutletId::new(chain.last, 0), out[0])?;
        Ok(patch)
    })
}

/// A chain found in the graph, ready to wire.
struct Found {
    op: PointwiseChain,
    /// Input 0.
    input: OutletId,
    /// Inputs 1..: per-channel vectors the graph computes.
    vectors: Vec<OutletId>,
    /// The node whose output the chain replaces.
    last: usize,
}

/// The chain that starts at node `start`, when it is one worth fusing.
fn find_chain(model: &TypedModel, start: usize) -> Option<Found> {
    let (first, input) = linear_stage(model, start, None)?;
    let shape = concrete(model, input)?;
    let (input_channels, pixels) = channels_and_pixels(&shape)?;
    let mut op = PointwiseChain {
        stages: vec![first],
        input_channels,
        pixels,
        output_shape: TVec::new(),
    };
    let mut vectors = Vec::new();
    let mut last = start;
    while let Some(next) = sole_successor(model, last) {
        let wire = OutletId::new(last, 0);
        let (channels, _) = channels_and_pixels(&concrete(model, wire)?)?;
        // A product's input is `wire` itself (`linear_stage` checks its
        // channels); an add or activation keeps the channels.
        let stage = if let Some((stage, _)) = linear_stage(model, next, Some(wire)) {
            stage
        } else if let Some(stage) = activation(model, next) {
            stage
        } else if let Some((stage, vector)) =
            channel_add(model, next, wire, channels, vectors.len())
        {
            vectors.extend(vector);
            stage
        } else {
            break;
        };
        let keeps = match &stage {
            Stage::Linear { outputs, .. } => *outputs,
            _ => channels,
        };
        // The output keeps the image's pixels in the same place.
        let out = concrete(model, OutletId::new(next, 0))?;
        if channels_and_pixels(&out) != Some((keeps, pixels)) {
            break;
        }
        op.stages.push(stage);
        last = next;
    }
    let linears = op
        .stages
        .iter()
        .filter(|s| matches!(s, Stage::Linear { .. }))
        .count();
    if linears < 2 {
        return None;
    }
    op.output_shape = concrete(model, OutletId::new(last, 0))?.into();
    Some(Found {
        op,
        input,
        vectors,
        last,
    })
}

/// A tensor's values when it holds f32 (no conversion: callers that
/// accept other types cast first).
fn f32_values(t: &Tensor) -> Option<Vec<f32>> {
    Some(t.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?.to_vec())
}

/// A convolution's constant bias input as one value per output channel:
/// given per channel, or one value for all (cast to f32).
fn channel_bias(model: &TypedModel, outlet: OutletId, channels: usize) -> Option<Vec<f32>> {
    let konst = model.outlet_fact(outlet).ok()?.konst.clone()?;
    let v = f32_values(&*konst.cast_to::<f32>().ok()?)?;
    match v.len() {
        1 => Some(vec![v[0]; channels]),
        len if len == channels => Some(v),
        _ => None,
    }
}

/// The run's tract thread pool, when it has more than one thread: the
/// fused ops split their work over it, else they run on the caller's
/// thread (one morph lane, or a single-threaded engine).
fn parallel_pool() -> Option<Arc<rayon::ThreadPool>> {
    match current_tract_executor() {
        Executor::MultiThread(pool) if pool.current_num_threads() > 1 => Some(pool),
        _ => None,
    }
}

/// A node's output shape when every dimension is known.
fn concrete(model: &TypedModel, outlet: OutletId) -> Option<Vec<usize>> {
    let fact = model.outlet_fact(outlet).ok()?;
    (fact.datum_type == f32::datum_type())
        .then(|| fact.shape.as_concrete().map(|s| s.to_vec()))
        .flatten()
}

/// `[1.., C, H, W]` -> `(C, H * W)`.
fn channels_and_pixels(shape: &[usize]) -> Option<(usize, usize)> {
    let [lead @ .., c, h, w] = shape else {
        return None;
    };
    lead.iter().all(|&d| d == 1).then_some((*c, h * w))
}

/// The node that alone reads node `id`'s only output, when nothing else
/// (a model output among them) does.
fn sole_successor(model: &TypedModel, id: usize) -> Option<usize> {
    let node = model.node(id);
    let outlet = OutletId::new(id, 0);
    if node.outputs.len() != 1
        || node.outputs[0].successors.len() != 1
        || model.output_outlets().ok()?.contains(&outlet)
    {
        return None;
    }
    Some(node.outputs[0].successors[0].node)
}

/// Node `id` as a 1x1 convolution over one image: an f32 `EinSum`
/// `…I S T, O I -> …O S T` (leading axes of size 1, the two pixel axes
/// kept in order) with constant `[O, I]` weights. With `from`, its data
/// input must be that wire. Returns the stage and its data input.
fn linear_stage(
    model: &TypedModel,
    id: usize,
    from: Option<OutletId>,
) -> Option<(Stage, OutletId)> {
    let node = model.node(id);
    let einsum = node.op_as::<EinSum>()?;
    if einsum.q_params.is_some()
        || einsum.operating_dt != f32::datum_type()
        || node.inputs.len() != 2
        || from.is_some_and(|f| node.inputs[0] != f)
    {
        return None;
    }
    let expr = einsum.axes.to_string();
    let (ins, out) = expr.split_once("->")?;
    let (data, weights) = ins.split_once(',')?;
    let &[o, i] = weights.chars().collect::<Vec<_>>().as_slice() else {
        return None;
    };
    let data: Vec<char> = data.chars().collect();
    let out: Vec<char> = out.chars().collect();
    let [.., di, ds, dt] = data.as_slice() else {
        return None;
    };
    let [.., oo, os, ot] = out.as_slice() else {
        return None;
    };
    if (*di, *oo) != (i, o) || (ds, dt) != (os, ot) || ds == dt {
        return None;
    }
    let w = model.outlet_fact(node.inputs[1]).ok()?.konst.clone()?;
    let &[outputs, inputs] = w.shape() else {
        return None;
    };
    let weights = f32_values(&*w.cast_to::<f32>().ok()?)?;
    let data_shape = concrete(model, node.inputs[0])?;
    let out_shape = concrete(model, OutletId::new(id, 0))?;
    let (c_in, pixels) = channels_and_pixels(&data_shape)?;
    let (c_out, out_pixels) = channels_and_pixels(&out_shape)?;
    if (c_in, c_out, pixels) != (inputs, outputs, out_pixels) {
        return None;
    }
    Some((
        Stage::Linear {
            outputs,
            inputs,
            weights: Arc::new(weights),
        },
        node.inputs[0],
    ))
}

/// Node `id` as an element-wise function the chain computes: those
/// tract-linalg has kernels for, and easel's own (`maps.rs`).
fn activation(model: &TypedModel, id: usize) -> Option<Stage> {
    let op = model.node(id).op_as::<ElementWiseOp>()?;
    if op.1.is_some() {
        return None;
    }
    match op.0.name().as_str() {
        "Tanh" => Some(Stage::Linalg(Func::Tanh)),
        "Sigmoid" => Some(Stage::Linalg(Func::Sigmoid)),
        "Exp" => Some(Stage::Linalg(Func::Exp)),
        "Sin" => Some(Stage::Map(Map::Sin)),
        "Cos" => Some(Stage::Map(Map::Cos)),
        "Square" => Some(Stage::Map(Map::Square)),
        "Neg" => Some(Stage::Map(Map::Neg)),
        "Abs" => Some(Stage::Map(Map::Abs)),
        _ => None,
    }
}

/// Node `id` as `wire + v` (either order) with `v` one value per channel
/// (`[1.., C, 1, 1]`): a constant, or a vector the graph computes (then
/// returned, to become input `inputs_before + 1` of the op).
fn channel_add(
    model: &TypedModel,
    id: usize,
    wire: OutletId,
    channels: usize,
    inputs_before: usize,
) -> Option<(Stage, Option<OutletId>)> {
    let node = model.node(id);
    let bin = node.op_as::<TypedBinOp>()?;
    if bin.0.name() != "Add" || bin.1.is_some() || node.inputs.len() != 2 {
        return None;
    }
    let other = match (node.inputs[0] == wire, node.inputs[1] == wire) {
        (true, false) => node.inputs[1],
        (false, true) => node.inputs[0],
        _ => return None,
    };
    let shape = concrete(model, other)?;
    let [lead @ .., c, 1, 1] = shape.as_slice() else {
        return None;
    };
    if *c != channels || !lead.iter().all(|&d| d == 1) {
        return None;
    }
    match &model.outlet_fact(other).ok()?.konst {
        Some(k) => {
            let v = f32_values(k)?;
            Some((Stage::AddConst(Arc::new(v)), None))
        }
        None => Some((Stage::AddInput(inputs_before + 1), Some(other))),
    }
}
