//! Graph rewrites on ONNX protobufs (tract's prost types) that make the
//! quantized variants: int8 weights behind `DequantizeLinear`, half weights
//! behind `Cast`, and `QLinearConv` / `QLinearMatMul` for int8 compute.
//!
//! Pure functions of the graph and the measured activation ranges: no IO,
//! no tract. Every rewrite keeps the graph's input and output names, so
//! the source package's manifest still describes the variant.

use std::collections::{HashMap, HashSet};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// An operator whose second input (and third, for a bias) is a weight.
const WEIGHT_OPS: [&str; 4] = ["Conv", "ConvTranspose", "Gemm", "MatMul"];

/// The smallest opset with per-axis `DequantizeLinear`.
pub const MIN_OPSET: i64 = 13;

/// The observed value range of an activation tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

/// What a rewrite did, for the quality report.
#[derive(Debug, Default, Clone)]
pub struct Rewritten {
    /// Nodes now computing in int8 (`name (op)`).
    pub integer_layers: Vec<String>,
    /// Weight-bearing nodes still computing in float, with the reason.
    pub float_layers: Vec<String>,
    /// Weight tensors converted.
    pub tensors: usize,
}

pub(crate) fn float_values(t: &pb::TensorProto) -> Option<Vec<f32>> {
    if t.data_type != DataType::Float as i32 {
        return None;
    }
    if !t.raw_data.is_empty() {
        Some(
            t.raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    } else {
        Some(t.float_data.clone())
    }
}

fn tensor(name: String, dims: &[i64], dt: DataType, raw_data: Vec<u8>) -> pb::TensorProto {
    pb::TensorProto {
        name,
        dims: dims.to_vec(),
        data_type: dt as i32,
        raw_data,
        ..Default::default()
    }
}

pub(crate) fn f32_tensor(name: String, dims: &[i64], values: &[f32]) -> pb::TensorProto {
    let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor(name, dims, DataType::Float, raw)
}

pub(crate) fn node(op: &str, name: String, inputs: Vec<String>, output: String) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name,
        input: inputs,
        output: vec![output],
        ..Default::default()
    }
}

pub(crate) fn int_attr(node: &pb::NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

fn axis_attr(axis: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: "axis".into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: axis,
        ..Default::default()
    }
}

/// The output-channel axis of a weight input, if `node` has one we handle.
fn channel_axis(node: &pb::NodeProto, rank: usize) -> Option<usize> {
    match (node.op_type.as_str(), rank) {
        ("Conv", r) if r >= 3 => Some(0),
        ("ConvTranspose", r) if r >= 3 => Some(1),
        ("Gemm", 2) => Some(if int_attr(node, "transB") == Some(1) {
            0
        } else {
            1
        }),
        ("MatMul", 2) => Some(1),
        _ => None,
    }
}

/// Per-output-channel symmetric int8: `q = round(w / s)`, `s = max|w| / 127`.
pub fn quantize_per_channel(values: &[f32], dims: &[i64], axis: usize) -> (Vec<i8>, Vec<f32>) {
    let channels = dims[axis] as usize;
    let inner: usize = dims[axis + 1..].iter().product::<i64>() as usize;
    let mut max = vec![0f32; channels];
    for (i, v) in values.iter().enumerate() {
        let c = (i / inner) % channels;
        max[c] = max[c].max(v.abs());
    }
    let scales: Vec<f32> = max
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let q = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (v / scales[(i / inner) % channels])
                .round()
                .clamp(-127.0, 127.0) as i8
        })
        .collect();
    (q, scales)
}

/// Weight initializers: name -> (consumer node index, input slot). Only
/// initializers whose every use is a weight or bias slot of a weight op.
fn weight_uses(graph: &pb::GraphProto) -> HashMap<String, Vec<(usize, usize)>> {
    let inits: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut uses: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
    let mut other: HashSet<String> = HashSet::new();
    for (n, node) in graph.node.iter().enumerate() {
        for (slot, input) in node.input.iter().enumerate() {
            if !inits.contains(input.as_str()) {
                continue;
            }
            if WEIGHT_OPS.contains(&node.op_type.as_str()) && (slot == 1 || slot == 2) {
                uses.entry(input.clone()).or_default().push((n, slot));
            } else {
                other.insert(input.clone());
            }
        }
    }
    uses.retain(|name, _| !other.contains(name));
    uses
}

/// `weights` mode: every weight (slot 1) of Conv, ConvTranspose, Gemm and
/// MatMul becomes int8 with per-output-channel scales, dequantized in the
/// graph. Biases stay f32 (they are small and precision-sensitive).
pub fn int8_weights(model: &mut pb::ModelProto) -> Rewritten {
    let graph = model.graph.as_mut().expect("decoded models have a graph");
    let mut done = Rewritten::default();
    let uses = weight_uses(graph);
    let mut new_nodes = Vec::new();
    for t in graph.initializer.iter_mut() {
        let Some(list) = uses.get(&t.name) else {
            continue;
        };
        if list.iter().any(|&(_, slot)| slot != 1) {
            continue;
        }
        let axes: HashSet<Option<usize>> = list
            .iter()
            .map(|&(n, _)| channel_axis(&graph.node[n], t.dims.len()))
            .collect();
        let (Some(values), 1, Some(Some(axis))) =
            (float_values(t), axes.len(), axes.iter().next().copied())
        else {
            continue;
        };
        let (q, scales) = quantize_per_channel(&values, &t.dims, axis);
        let name = t.name.clone();
        let (qname, sname, zname) = (
            format!("{name}_int8"),
            format!("{name}_scale"),
            format!("{name}_zero"),
        );
        *t = tensor(
            qname.clone(),
            &t.dims,
            DataType::Int8,
            q.iter().map(|&v| v as u8).collect(),
        );
        new_nodes.push((
            f32_tensor(sname.clone(), &[scales.len() as i64], &scales),
            tensor(
                zname.clone(),
                &[scales.len() as i64],
                DataType::Int8,
                vec![0; scales.len()],
            ),
            {
                let mut n = node(
                    "DequantizeLinear",
                    format!("{name}_dequantize"),
                    vec![qname, sname, zname],
                    name,
                );
                n.attribute.push(axis_attr(axis as i64));
                n
            },
        ));
        done.tensors += 1;
    }
    for (scale, zero, dq) in new_nodes.into_iter().rev() {
        graph.initializer.push(scale);
        graph.initializer.push(zero);
        graph.node.insert(0, dq);
    }
    done
}

/// `f16` mode: weights and biases of the weight ops stored as float16,
/// cast back to float32 in the graph (tract folds the cast at load).
pub fn f16_weights(model: &mut pb::ModelProto) -> Rewritten {
    let graph = model.graph.as_mut().expect("decoded models have a graph");
    let mut done = Rewritten::default();
    let uses = weight_uses(graph);
    let mut casts = Vec::new();
    for t in graph.initializer.iter_mut() {
        if !uses.contains_key(&t.name) {
            continue;
        }
        let Some(values) = float_values(t) else {
            continue;
        };
        let name = t.name.clone();
        let hname = format!("{name}_f16");
        let raw = values
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        *t = tensor(hname.clone(), &t.dims, DataType::Float16, raw);
        let mut cast = node("Cast", format!("{name}_cast"), vec![hname], name);
        cast.attribute.push(pb::AttributeProto {
            name: "to".into(),
            r#type: pb::attribute_proto::AttributeType::Int as i32,
            i: DataType::Float as i64,
            ..Default::default()
        });
        casts.push(cast);
        done.tensors += 1;
    }
    for cast in casts.into_iter().rev() {
        graph.node.insert(0, cast);
    }
    done
}

/// Asymmetric uint8 parameters covering `range` and zero.
pub fn activation_params(range: Range) -> (f32, u8) {
    let (lo, hi) = (range.min.min(0.0), range.max.max(0.0));
    let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    let zero = (-lo / scale).round().clamp(0.0, 255.0) as u8;
    (scale, zero)
}

/// The activation tensors `static` mode needs ranges for: the input and
/// output of every Conv and MatMul with a constant weight.
pub fn static_candidates(model: &pb::ModelProto) -> Vec<String> {
    let graph = model.graph.as_ref().expect("decoded models have a graph");
    let inits: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut names = Vec::new();
    for n in &graph.node {
        if matches!(n.op_type.as_str(), "Conv" | "MatMul")
            && n.input.len() >= 2
            && inits.contains(n.input[1].as_str())
        {
            for t in [&n.input[0], &n.output[0]] {
                if !names.contains(t) {
                    names.push(t.clone());
                }
            }
        }
    }
    names
}

/// `static` mode: Conv -> QuantizeLinear, QLinearConv (per-channel int8
/// weights, int32 bias), DequantizeLinear; MatMul with a constant 2-D
/// weight -> QLinearMatMul (per-tensor weight scale, which every runtime
/// accepts). Activations are uint8 with the calibrated `ranges`. Weight
/// ops without an integer kernel (ConvTranspose, Gemm, …) get int8
/// weights as in `weights` mode and compute in float; they are listed.
pub fn static_int8(model: &mut pb::ModelProto, ranges: &HashMap<String, Range>) -> Rewritten {
    let mut done = Rewritten::default();
    let graph = model.graph.as_mut().expect("decoded models have a graph");
    let inits: HashMap<String, pb::TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.clone(), t.clone()))
        .collect();
    let mut out_nodes = Vec::with_capacity(graph.node.len());
    let mut new_inits = Vec::new();
    let mut used_weights: HashSet<String> = HashSet::new();
    let mut quantized_inputs: HashMap<String, String> = HashMap::new();
    let old_nodes = std::mem::take(&mut graph.node);
    for (ix, n) in old_nodes.into_iter().enumerate() {
        let label = format!("{} ({})", display_name(&n, ix), n.op_type);
        let weight = n.input.get(1).and_then(|w| inits.get(w));
        let (x, y) = (n.input[0].clone(), n.output[0].clone());
        let plan = match (n.op_type.as_str(), weight) {
            ("Conv" | "MatMul", Some(w)) => {
                match (float_values(w), ranges.get(&x), ranges.get(&y)) {
                    (Some(values), Some(&rx), Some(&ry))
                        if n.op_type == "Conv" || w.dims.len() == 2 =>
                    {
                        Some((w.clone(), values, rx, ry))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let Some((w, values, rx, ry)) = plan else {
            if WEIGHT_OPS.contains(&n.op_type.as_str()) {
                let why = match n.op_type.as_str() {
                    "ConvTranspose" => "no integer ConvTranspose kernel",
                    "Gemm" => "Gemm has no integer form; int8 weights, float compute",
                    _ => "weight is not a constant",
                };
                done.float_layers.push(format!("{label}: {why}"));
            }
            out_nodes.push(n);
            continue;
        };
        let stem = format!("q{ix}");
        let (xs, xz) = activation_params(rx);
        let (ys, yz) = activation_params(ry);
        let x_scale = format!("{stem}_x_scale");
        let x_zero = format!("{stem}_x_zero");
        let y_scale = format!("{stem}_y_scale");
        let y_zero = format!("{stem}_y_zero");
        new_inits.push(f32_tensor(x_scale.clone(), &[], &[xs]));
        new_inits.push(tensor(x_zero.clone(), &[], DataType::Uint8, vec![xz]));
        new_inits.push(f32_tensor(y_scale.clone(), &[], &[ys]));
        new_inits.push(tensor(y_zero.clone(), &[], DataType::Uint8, vec![yz]));
        let xq = quantized_inputs
            .entry(format!("{x}|{xs}|{xz}"))
            .or_insert_with(|| {
                let xq = format!("{stem}_x_u8");
                out_nodes.push(node(
                    "QuantizeLinear",
                    format!("{stem}_quantize"),
                    vec![x.clone(), x_scale.clone(), x_zero.clone()],
                    xq.clone(),
                ));
                xq
            })
            .clone();
        let (wq, w_scales) = if n.op_type == "Conv" {
            quantize_per_channel(&values, &w.dims, 0)
        } else {
            let whole = [1, values.len() as i64];
            quantize_per_channel(&values, &whole, 0)
        };
        let (w_name, ws_name, wz_name) = (
            format!("{stem}_w_int8"),
            format!("{stem}_w_scale"),
            format!("{stem}_w_zero"),
        );
        let ws_dims = if w_scales.len() == 1 {
            vec![]
        } else {
            vec![w_scales.len() as i64]
        };
        new_inits.push(tensor(
            w_name.clone(),
            &w.dims,
            DataType::Int8,
            wq.iter().map(|&v| v as u8).collect(),
        ));
        new_inits.push(f32_tensor(ws_name.clone(), &ws_dims, &w_scales));
        new_inits.push(tensor(
            wz_name.clone(),
            &ws_dims,
            DataType::Int8,
            vec![0; w_scales.len()],
        ));
        used_weights.insert(w.name.clone());
        let yq = format!("{stem}_y_u8");
        let mut q = if n.op_type == "Conv" {
            let mut inputs = vec![
                xq,
                x_scale,
                x_zero,
                w_name,
                ws_name,
                wz_name,
                y_scale.clone(),
                y_zero.clone(),
            ];
            if let Some(b) = n.input.get(2).and_then(|b| inits.get(b)) {
                let bias = float_values(b).unwrap_or_default();
                let b_name = format!("{stem}_bias_int32");
                let raw = bias
                    .iter()
                    .zip(&w_scales)
                    .flat_map(|(v, s)| ((v / (xs * s)).round() as i32).to_le_bytes())
                    .collect();
                new_inits.push(tensor(b_name.clone(), &b.dims, DataType::Int32, raw));
                used_weights.insert(b.name.clone());
                inputs.push(b_name);
            }
            node("QLinearConv", format!("{stem}_qconv"), inputs, yq.clone())
        } else {
            node(
                "QLinearMatMul",
                format!("{stem}_qmatmul"),
                vec![
                    xq,
                    x_scale,
                    x_zero,
                    w_name,
                    ws_name,
                    wz_name,
                    y_scale.clone(),
                    y_zero.clone(),
                ],
                yq.clone(),
            )
        };
        q.attribute = n.attribute.clone();
        out_nodes.push(q);
        out_nodes.push(node(
            "DequantizeLinear",
            format!("{stem}_dequantize"),
            vec![yq, y_scale, y_zero],
            y,
        ));
        done.integer_layers.push(label);
    }
    graph.node = out_nodes;
    // Weights now held as int8 by the integer nodes are dropped, unless
    // something else still reads them.
    let still_read: HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .collect();
    graph
        .initializer
        .retain(|t| !used_weights.contains(&t.name) || still_read.contains(t.name.as_str()));
    graph.initializer.extend(new_inits);
    // The float layers still carry f32 weights: store them as int8 too.
    let rest = int8_weights(model);
    done.tensors = done.integer_layers.len() + rest.tensors;
    done
}

fn display_name(n: &pb::NodeProto, ix: usize) -> String {
    if n.name.is_empty() {
        format!("#{ix}")
    } else {
        n.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_scales_follow_the_axis() {
        // Two output channels of 3 values: channel 1 is 10x larger.
        let w = [0.5, -1.0, 0.25, 5.0, -10.0, 2.5];
        let (q, s) = quantize_per_channel(&w, &[2, 3], 0);
        assert_eq!(q, vec![64, -127, 32, 64, -127, 32]);
        assert!((s[0] - 1.0 / 127.0).abs() < 1e-9 && (s[1] - 10.0 / 127.0).abs() < 1e-9);
        // Axis 1 of [3, 2]: columns are channels.
        let (_, s) = quantize_per_channel(&[1.0, 2.0, -3.0, 4.0, 0.0, 0.0], &[3, 2], 1);
        assert_eq!(s, vec![3.0 / 127.0, 4.0 / 127.0]);
        // An all-zero channel gets scale 1, not a division by zero.
        let (q, s) = quantize_per_channel(&[0.0, 0.0], &[1, 2], 0);
        assert_eq!((q, s), (vec![0, 0], vec![1.0]));
    }

    #[test]
    fn activation_params_cover_zero() {
        let (s, z) = activation_params(Range {
            min: 0.0,
            max: 2.55,
        });
        assert!((s - 0.01).abs() < 1e-6);
        assert_eq!(z, 0);
        let (s, z) = activation_params(Range {
            min: -1.0,
            max: 1.0,
        });
        assert!((s - 2.0 / 255.0).abs() < 1e-6);
        // 127.5 in exact arithmetic: either neighbour is a correct rounding.
        assert!((127..=128).contains(&z), "{z}");
        // A positive-only range still represents zero exactly.
        let (_, z) = activation_params(Range { min: 3.0, max: 5.0 });
        assert_eq!(z, 0);
    }
}
