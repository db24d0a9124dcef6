//! What tract needs beyond the shared checks (`crate::load`): every
//! operator is one tract implements (named with its node, with advice),
//! the manifest's `[tract] knobs` are ones tract reads while it prepares a
//! model, constant weight decoders are folded to f32 (tract's kernels
//! choice needs constant weights), and the inference model is built with
//! every input shape fixed, ready for `into_optimized`.

use crate::budget::Budget;
pub use crate::load::LoadError;
use crate::load::graphs;
use crate::package::{Manifest, ModelKind};
use std::path::Path;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::knobs::KnobScope;
use tract_onnx::tract_core::runtime::RunOptions;

/// Replaces `DequantizeLinear` and `Cast` nodes whose inputs are all
/// initializers (int8 or f16 weights of a quantized variant) by the f32
/// initializer they compute. tract folds such nodes too, but only after it
/// has chosen its kernels: a ConvTranspose whose weight is not a constant
/// then takes a generic path, 5-8x slower. Folding here keeps the small
/// file and the f32 speed. Returns how many nodes were folded.
pub fn fold_constant_weights(proto: &mut pb::ModelProto) -> usize {
    let Some(graph) = proto.graph.as_mut() else {
        return 0;
    };
    let mut folded = 0;
    let mut ix = 0;
    while ix < graph.node.len() {
        let n = &graph.node[ix];
        let inputs: Option<Vec<&pb::TensorProto>> = n
            .input
            .iter()
            .map(|i| graph.initializer.iter().find(|t| t.name == *i))
            .collect();
        let Some((values, dims)) = inputs.and_then(|inputs| fold_node(n, &inputs)) else {
            ix += 1;
            continue;
        };
        let n = graph.node.remove(ix);
        graph.initializer.push(pb::TensorProto {
            name: n.output[0].clone(),
            dims,
            data_type: pb::tensor_proto::DataType::Float as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        folded += 1;
    }
    folded
}

/// The f32 values of a weight-decoding node over constant inputs.
fn fold_node(n: &pb::NodeProto, inputs: &[&pb::TensorProto]) -> Option<(Vec<f32>, Vec<i64>)> {
    use pb::tensor_proto::DataType as T;
    let raw = |t: &pb::TensorProto, dt: T| {
        (t.data_type == dt as i32 && !t.raw_data.is_empty()).then(|| t.raw_data.clone())
    };
    match (n.op_type.as_str(), inputs) {
        ("Cast", [x]) => {
            let to_f32 = n
                .attribute
                .iter()
                .any(|a| a.name == "to" && a.i == T::Float as i64);
            let bytes = raw(x, T::Float16).filter(|_| to_f32)?;
            let values = bytes
                .chunks_exact(2)
                .map(|b| half_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect();
            Some((values, x.dims.clone()))
        }
        ("DequantizeLinear", [x, scale, rest @ ..]) => {
            let q = raw(x, T::Int8)?;
            let scales: Vec<f32> = raw(scale, T::Float)?
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let zeros: Vec<i8> = match rest.first() {
                Some(z) => raw(z, T::Int8)?.iter().map(|&b| b as i8).collect(),
                None => vec![],
            };
            let (channels, inner) = if scales.len() > 1 {
                let axis = n
                    .attribute
                    .iter()
                    .find(|a| a.name == "axis")
                    .map_or(1, |a| a.i);
                let axis = if axis < 0 {
                    axis + x.dims.len() as i64
                } else {
                    axis
                } as usize;
                let channels = *x.dims.get(axis)? as usize;
                (
                    channels,
                    x.dims[axis + 1..].iter().product::<i64>() as usize,
                )
            } else {
                (1, 1)
            };
            if scales.len() != channels || zeros.len() > channels || scales.is_empty() {
                return None;
            }
            let values = q
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let c = (i / inner.max(1)) % channels;
                    let zero = zeros.get(c).copied().unwrap_or(0) as f32;
                    (v as i8 as f32 - zero) * scales[c]
                })
                .collect();
            Some((values, x.dims.clone()))
        }
        _ => None,
    }
}

/// IEEE 754 half to single precision.
fn half_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f32;
    sign * match exp {
        0 => frac * 2f32.powi(-24),
        31 if frac == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        e => (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// `(op_type, node name)` of every node tract has no implementation for.
pub fn unsupported_ops(proto: &pb::ModelProto) -> Vec<(String, String)> {
    let onnx = tract_onnx::onnx();
    let Some(graph) = proto.graph.as_ref() else {
        return vec![];
    };
    graphs(graph)
        .into_iter()
        .flat_map(|g| &g.node)
        .filter(|n| !onnx.op_register.0.contains_key(&n.op_type))
        .map(|n| (n.op_type.clone(), n.name.clone()))
        .collect()
}

/// Advice for an operator tract lacks, when we know a way around it.
pub fn op_hint(op: &str) -> &'static str {
    match op {
        "Upsample" => {
            "; Upsample is deprecated since opset 10: export at opset >= 11 (torch.onnx.export(..., opset_version=17)) so it becomes Resize"
        }
        _ => "; export with a newer opset or replace the layer with supported operators",
    }
}

/// The manifest's `[tract] knobs` as a tract `KnobScope`. tract reads
/// these knobs (e.g. `TRACT_DISABLE_DIRECT_SPATIAL`) while it optimizes
/// and plans a model, from the calling thread's scope before the process
/// environment: entering the scope around those two calls tunes this one
/// model and no other. A knob tract does not know, or one it only reads
/// process-wide, is an error naming it.
pub fn knob_scope(path: &Path, manifest: &Manifest) -> Result<KnobScope, LoadError> {
    let knobs = manifest.tract.as_ref().map(|t| &t.knobs);
    KnobScope::new(
        knobs
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .map_err(|e| LoadError::Knobs {
        path: path.into(),
        message: format!("{e:#}"),
    })
}

/// Types a fixed-shape model, holds its tensors against `budget` (now
/// that every shape tract can compute is concrete), then optimizes and
/// plans it with `options`, with the manifest's tract knobs in scope.
pub fn optimize(
    path: &Path,
    model: InferenceModel,
    manifest: &Manifest,
    options: &RunOptions,
    budget: &Budget,
) -> Result<Arc<TypedRunnableModel>, LoadError> {
    let tract_err = |stage, e: TractError| LoadError::Tract {
        path: path.into(),
        stage,
        message: format!("{e:#}"),
    };
    knob_scope(path, manifest)?.enter(|| {
        let typed = model.into_typed().map_err(|e| tract_err("type", e))?;
        crate::budget::check_facts(path, typed_facts(&typed), budget)?;
        let typed = super::fuse::fast_paths(typed).map_err(|e| tract_err("fuse", e))?;
        let optimized = typed
            .into_optimized()
            .map_err(|e| tract_err("optimize", e))?;
        optimized
            .into_runnable_with_options(options)
            .map_err(|e| tract_err("plan", e))
    })
}

/// Every output of every node of a typed model, sized where its shape is
/// concrete.
fn typed_facts(model: &TypedModel) -> impl Iterator<Item = crate::budget::Fact> + '_ {
    model.nodes().iter().flat_map(|node| {
        node.outputs.iter().map(move |o| crate::budget::Fact {
            name: node.name.clone(),
            constant: o.fact.konst.is_some(),
            bytes: o.fact.shape.as_concrete().and_then(|dims| {
                dims.iter()
                    .try_fold(o.fact.datum_type.size_of() as u64, |acc, &d| {
                        acc.checked_mul(d as u64)
                    })
            }),
        })
    })
}

/// Checks what tract needs (operators, knobs) and then what every
/// engine needs (names, shapes: [`crate::load::check_manifest`]).
pub fn check(path: &Path, proto: &pb::ModelProto, manifest: &Manifest) -> Result<(), LoadError> {
    knob_scope(path, manifest)?;
    if let Some((op, node)) = unsupported_ops(proto).into_iter().next() {
        let hint = op_hint(&op).to_string();
        return Err(LoadError::UnsupportedOp {
            path: path.into(),
            op,
            node,
            hint,
        });
    }
    crate::load::check_manifest(path, proto, manifest)
}

/// The tract inference model with every input fixed to a concrete shape:
/// the manifest's input shape, and for CPPNs the `[1, 3, h, w]` grid.
pub fn fixed_model(
    path: &Path,
    proto: &pb::ModelProto,
    manifest: &Manifest,
    size: Option<(usize, usize)>,
) -> Result<InferenceModel, LoadError> {
    let tract_err = |stage, e: TractError| LoadError::Tract {
        path: path.into(),
        stage,
        message: format!("{e:#}"),
    };
    let mut model = tract_onnx::onnx()
        .model_for_proto_model(proto)
        .map_err(|e| tract_err("read", e))?;
    let mut shapes = vec![(manifest.input.name.clone(), manifest.input.shape.clone())];
    if let (ModelKind::Cppn, Some(cppn), Some((w, h))) = (manifest.kind, &manifest.cppn, size) {
        shapes.push((cppn.coords.clone(), vec![1, 3, h, w]));
    }
    let input_names: Vec<String> = model
        .input_outlets()
        .map_err(|e| tract_err("read", e))?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    for (ix, name) in input_names.iter().enumerate() {
        let (_, shape) =
            shapes
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| LoadError::Graph {
                    path: path.into(),
                    message: format!("graph input {name:?} has no shape"),
                })?;
        model
            .set_input_fact(
                ix,
                InferenceFact::dt_shape(f32::datum_type(), shape.as_slice()),
            )
            .map_err(|e| tract_err("shape", e))?;
    }
    model
        .select_outputs_by_name([manifest.output.name.as_str()])
        .map_err(|e| tract_err("read", e))?;
    Ok(model)
}
