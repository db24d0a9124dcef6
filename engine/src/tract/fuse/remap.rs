//! Finds nearest-neighbour up-sampling (`Resize`, and the
//! `NearestUpsample` tract lowers a pixel-replicating one to) and reflect
//! or edge padding (`Pad`) on the two spatial axes of NCHW images, and a
//! run of them one after the other, and puts one [`Remap`] in their place.
//!
//! Both only move pixels: output row `y` is input row `rows[y]` and output
//! column `x` input column `columns[x]`, with maps worked out once at load
//! (through tract's own resampling plan for `Resize`, so every coordinate
//! mode and rounding rule means what it means to tract). A run of them
//! composes into one pair of maps: a style network's up-sampling and the
//! reflect padding before its convolution become one pass that writes the
//! padded, up-sampled tensor. tract evaluates its `Resize` through a
//! general weighted resampler (a multiply-add per value per axis, axis
//! after axis): 10 % of style-256's time, with another 5 % in `Pad`.

use super::concrete;
use super::remap_op::Remap;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{Pad, PadMode};
use tract_onnx::tract_core::ops::nn::resize::{Interpolator, NearestUpsample, Resize};

/// Replaces every run of up-sampling and padding it can; how many.
pub fn fuse(model: &mut TypedModel) -> TractResult<usize> {
    super::replace_each(model, find, |model, found| {
        let mut patch = TypedModelPatch::new("easel remap");
        let input = patch.tap_model(model, found.input)?;
        let name = format!("{}.easel_remap", model.node(found.last).name);
        let out = patch.wire_node(name, found.op, &[input])?;
        patch.shunt_outside(model, OutletId::new(found.last, 0), out[0])?;
        Ok(patch)
    })
}

/// A run found in the graph, ready to wire.
struct Found {
    /// The first node's data input, `[N, C, H, W]`.
    input: OutletId,
    /// The node whose output the op replaces.
    last: usize,
    op: Remap,
}

/// The run that starts at node `id`, when it is one.
fn find(model: &TypedModel, id: usize) -> Option<Found> {
    let input = *model.node(id).inputs.first()?;
    let shape: [usize; 4] = concrete(model, input)?.try_into().ok()?;
    let (rows, columns) = maps(model, id, shape)?;
    let mut op = Remap {
        input: shape,
        rows,
        columns,
    };
    let mut last = id;
    while let Some(next) = super::sole_successor(model, last) {
        let Some((rows, columns)) = maps(model, next, op.output_shape()) else {
            break;
        };
        op = op.then(&rows, &columns);
        last = next;
    }
    Some(Found { input, last, op })
}

/// Node `id` as maps `(rows, columns)` of its output's spatial indices to
/// its input's, when it reads an f32 `shape` and moves pixels on the two
/// spatial axes only.
fn maps(model: &TypedModel, id: usize, shape: [usize; 4]) -> Option<(Vec<u32>, Vec<u32>)> {
    let node = model.node(id);
    if concrete(model, *node.inputs.first()?)?.as_slice() != shape {
        return None;
    }
    let out: [usize; 4] = concrete(model, OutletId::new(id, 0))?.try_into().ok()?;
    if out[..2] != shape[..2] || shape[2] == 0 || shape[3] == 0 {
        return None;
    }
    if let Some(pad) = node.op_as::<Pad>() {
        return pad_maps(pad, shape);
    }
    // What tract lowers a pixel-replicating `Resize` to: `i / scale`.
    if let Some(up) = node.op_as::<NearestUpsample>() {
        if up.scales.len() != 4 || up.scales[..2] != [1, 1] {
            return None;
        }
        let axis = |a: usize| {
            (0..out[a] as u32)
                .map(|x| x / up.scales[a] as u32)
                .collect()
        };
        return Some((axis(2), axis(3)));
    }
    let resize = node.op_as::<Resize>()?;
    if resize.interpolator != Interpolator::Nearest {
        return None;
    }
    let scales: Vec<f32> = match resize.optional_scales_input {
        Some(ix) => {
            let k = model
                .outlet_fact(*node.inputs.get(ix)?)
                .ok()?
                .konst
                .clone()?;
            super::f32_values(&*k.cast_to::<f32>().ok()?)?
        }
        None => Vec::new(),
    };
    // As tract's eval: the given scales when there is one per axis, else
    // output over input lengths.
    let scale = |axis: usize| match scales.len() {
        4 => scales[axis],
        _ => out[axis] as f32 / shape[axis] as f32,
    };
    if scale(0) != 1.0 || scale(1) != 1.0 {
        return None;
    }
    let axis = |a: usize| -> Option<Vec<u32>> {
        let (len_in, len_out) = (shape[a], out[a]);
        if len_in == len_out && scale(a) == 1.0 {
            return Some((0..len_in as u32).collect());
        }
        let plan = resize.plan_axis(scale(a), len_in, len_out);
        // Nearest: every output reads one input at weight 1.
        (0..len_out)
            .map(|x| {
                let taps = x * plan.window..(x + 1) * plan.window;
                let mut read = plan.indices[taps.clone()]
                    .iter()
                    .zip(&plan.weights[taps])
                    .filter(|(_, w)| **w != 0.0);
                match (read.next(), read.next(), plan.extrapolated[x]) {
                    (Some((&i, &w)), None, false) => (w == 1.0).then_some(i as u32),
                    _ => None,
                }
            })
            .collect()
    };
    Some((axis(2)?, axis(3)?))
}

/// tract's `Pad` in reflect or edge mode, on the spatial axes only (a
/// reflection no wider than the axis, where it reads the input alone).
fn pad_maps(pad: &Pad, shape: [usize; 4]) -> Option<(Vec<u32>, Vec<u32>)> {
    if pad.pads.len() != 4 || pad.pads[..2].iter().any(|&p| p != (0, 0)) {
        return None;
    }
    let axis = |a: usize| -> Option<Vec<u32>> {
        let (before, after) = pad.pads[a];
        let len = shape[a] as isize;
        if matches!(pad.mode, PadMode::Reflect) && before.max(after) as isize >= len {
            return None;
        }
        (0..len + (before + after) as isize)
            .map(|p| {
                let u = p - before as isize;
                let i = match pad.mode {
                    PadMode::Reflect if u < 0 => -u,
                    PadMode::Reflect if u >= len => 2 * (len - 1) - u,
                    PadMode::Edge => u.clamp(0, len - 1),
                    PadMode::Reflect => u,
                    PadMode::Constant(_) => return None,
                };
                Some(i as u32)
            })
            .collect()
    };
    Some((axis(2)?, axis(3)?))
}
