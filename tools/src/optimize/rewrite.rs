//! Graph rewrites that make tract faster without changing what the model
//! computes, beyond float rounding: pure functions of the ONNX protobuf
//! (tract's prost types), no IO, no tract. Every rewrite keeps the graph's
//! input and output names, so the package's manifest still describes it.
//!
//! - `fold_batch_norm`: an inference-mode BatchNormalization after a Conv
//!   or ConvTranspose with constant weights becomes part of the weights
//!   and bias (`w * s`, `(b - mean) * s + beta`, `s = gamma / sqrt(var +
//!   eps)`), computed in f64.
//! - `subpixel_conv_transpose`: a ConvTranspose with stride `s` whose
//!   output is exactly `s` times its input (`k - 2p = s`) becomes `s²`
//!   phase convolutions, each with only the taps that land on its output
//!   phase, concatenated and interleaved by DepthToSpace. tract runs its
//!   Conv kernels on this far faster than its ConvTranspose (which
//!   scatters and sums), and the MAC count is the same.
//!   (`Subpixel::Joint` does the same with one convolution over the union
//!   of the phases' taps: fewer nodes, more MACs.)

use crate::quantize::rewrite::{f32_tensor, float_values, int_attr, node};
use std::collections::HashSet;
use tract_onnx::pb;

/// How a ConvTranspose is rewritten into convolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Subpixel {
    /// One convolution per output phase (`s²` of them), exact MAC count.
    Phases,
    /// One convolution over the union of every phase's taps: `s²` times
    /// the output channels, zero taps included.
    Joint,
}

fn ints_attr(n: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    n.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.ints.clone())
}

fn float_attr(n: &pb::NodeProto, name: &str) -> Option<f32> {
    n.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

fn string_attr(n: &pb::NodeProto, name: &str) -> Option<String> {
    n.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| String::from_utf8_lossy(&a.s).to_string())
}

fn ints(name: &str, values: Vec<i64>) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: values,
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

fn string(name: &str, value: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::String as i32,
        s: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn initializer<'a>(graph: &'a pb::GraphProto, name: &str) -> Option<&'a pb::TensorProto> {
    graph.initializer.iter().find(|t| t.name == name)
}

/// Nodes that read `value`.
fn consumers(graph: &pb::GraphProto, value: &str) -> usize {
    graph
        .node
        .iter()
        .flat_map(|n| &n.input)
        .filter(|i| *i == value)
        .count()
}

fn is_graph_output(graph: &pb::GraphProto, value: &str) -> bool {
    graph.output.iter().any(|o| o.name == value)
}

/// A name no value or initializer of the graph carries yet.
fn fresh(graph: &pb::GraphProto, stem: &str) -> String {
    let taken: HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().chain(&n.input))
        .chain(graph.initializer.iter().map(|t| &t.name))
        .chain(graph.input.iter().map(|i| &i.name))
        .map(String::as_str)
        .collect();
    (0..)
        .map(|i| {
            if i == 0 {
                stem.to_string()
            } else {
                format!("{stem}_{i}")
            }
        })
        .find(|n| !taken.contains(n.as_str()))
        .expect("an unused name exists")
}

/// Drops initializers nothing reads any more (weights replaced by their
/// folded copies).
pub fn prune_initializers(graph: &mut pb::GraphProto) {
    let read: HashSet<String> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .chain(graph.output.iter().map(|o| o.name.clone()))
        .collect();
    graph.initializer.retain(|t| read.contains(&t.name));
}

fn display(n: &pb::NodeProto) -> String {
    if n.name.is_empty() {
        format!(
            "{} -> {}",
            n.op_type,
            n.output.first().cloned().unwrap_or_default()
        )
    } else {
        format!("{} ({})", n.name, n.op_type)
    }
}

/// Folds every BatchNormalization that directly follows a Conv or a
/// (group 1) ConvTranspose with constant f32 weights into that layer.
/// Returns what was folded (`conv <- bn`).
pub fn fold_batch_norm(model: &mut pb::ModelProto) -> Vec<String> {
    let Some(graph) = model.graph.as_mut() else {
        return vec![];
    };
    let mut done = Vec::new();
    let mut ix = 0;
    while ix < graph.node.len() {
        match fold_one_batch_norm(graph, ix) {
            Some(what) => done.push(what),
            None => ix += 1,
        }
    }
    prune_initializers(graph);
    done
}

/// Folds the BatchNormalization at `bn_ix` if it can; the node is removed.
fn fold_one_batch_norm(graph: &mut pb::GraphProto, bn_ix: usize) -> Option<String> {
    let bn = &graph.node[bn_ix];
    if bn.op_type != "BatchNormalization"
        || bn.input.len() != 5
        || bn.output.len() != 1
        || int_attr(bn, "training_mode").unwrap_or(0) != 0
    {
        return None;
    }
    let x = &bn.input[0];
    if consumers(graph, x) != 1 || is_graph_output(graph, x) {
        return None;
    }
    let conv_ix = graph
        .node
        .iter()
        .position(|n| n.output.first() == Some(x))?;
    let conv = &graph.node[conv_ix];
    let group = int_attr(conv, "group").unwrap_or(1);
    let axis = match conv.op_type.as_str() {
        "Conv" => 0,
        "ConvTranspose" if group == 1 => 1,
        _ => return None,
    };
    let w = initializer(graph, conv.input.get(1)?)?;
    let weights = float_values(w)?;
    if w.dims.len() < 3 {
        return None;
    }
    let channels = w.dims[axis] as usize;
    let params: Option<Vec<Vec<f32>>> = bn.input[1..]
        .iter()
        .map(|name| initializer(graph, name).and_then(float_values))
        .collect();
    let [gamma, beta, mean, var] = <[Vec<f32>; 4]>::try_from(params?).ok()?;
    if [&gamma, &beta, &mean, &var]
        .iter()
        .any(|p| p.len() != channels)
    {
        return None;
    }
    let bias = match conv.input.get(2).filter(|b| !b.is_empty()) {
        Some(b) => float_values(initializer(graph, b)?)?,
        None => vec![0.0; channels],
    };
    if bias.len() != channels {
        return None;
    }
    let eps = float_attr(bn, "epsilon").unwrap_or(1e-5) as f64;
    let scale: Vec<f64> = gamma
        .iter()
        .zip(&var)
        .map(|(&g, &v)| g as f64 / (v as f64 + eps).sqrt())
        .collect();
    let inner: usize = w.dims[axis + 1..].iter().product::<i64>() as usize;
    let new_w: Vec<f32> = weights
        .iter()
        .enumerate()
        .map(|(i, &v)| (v as f64 * scale[(i / inner) % channels]) as f32)
        .collect();
    let new_b: Vec<f32> = (0..channels)
        .map(|c| ((bias[c] as f64 - mean[c] as f64) * scale[c] + beta[c] as f64) as f32)
        .collect();
    let w_dims = w.dims.clone();
    let label = format!("{} <- {}", display(conv), display(bn));
    let w_name = fresh(graph, &format!("{}_bn_weight", conv.output[0]));
    let b_name = fresh(graph, &format!("{}_bn_bias", conv.output[0]));
    graph
        .initializer
        .push(f32_tensor(w_name.clone(), &w_dims, &new_w));
    graph
        .initializer
        .push(f32_tensor(b_name.clone(), &[channels as i64], &new_b));
    let bn = graph.node.remove(bn_ix);
    let conv_ix = if conv_ix > bn_ix {
        conv_ix - 1
    } else {
        conv_ix
    };
    let conv = &mut graph.node[conv_ix];
    conv.input.truncate(1);
    conv.input.push(w_name);
    conv.input.push(b_name);
    conv.output[0] = bn.output[0].clone();
    Some(label)
}

/// Per axis of a transposed convolution: for every output phase `a`
/// (`0..s`), the input offsets `d` that feed it and the kernel tap `k`
/// each comes from: output `s·i + a` reads input `i + d` through tap `k`.
fn phase_taps(kernel: usize, stride: usize, pad: usize) -> Vec<Vec<(i64, usize)>> {
    (0..stride)
        .map(|a| {
            (0..kernel)
                .filter(|&k| (a as i64 + pad as i64 - k as i64).rem_euclid(stride as i64) == 0)
                .map(|k| ((a as i64 + pad as i64 - k as i64) / stride as i64, k))
                .collect()
        })
        .collect()
}

/// The geometry of a ConvTranspose we can rewrite: 2-D, group 1, no
/// dilation, output padding or explicit output shape, the same stride on
/// both axes, symmetric pads and `k - 2p = s` (output = `s` × input).
struct Geometry {
    stride: usize,
    kernel: [usize; 2],
    pad: [usize; 2],
}

fn conv_transpose_geometry(n: &pb::NodeProto, w: &pb::TensorProto) -> Option<Geometry> {
    if n.op_type != "ConvTranspose" || w.dims.len() != 4 {
        return None;
    }
    let auto_pad = string_attr(n, "auto_pad").unwrap_or_default();
    let unset = |name| ints_attr(n, name).is_none_or(|v: Vec<i64>| v.iter().all(|&x| x == 0));
    let ones = |name| ints_attr(n, name).is_none_or(|v: Vec<i64>| v.iter().all(|&x| x == 1));
    if int_attr(n, "group").unwrap_or(1) != 1
        || !(auto_pad.is_empty() || auto_pad == "NOTSET")
        || !unset("output_padding")
        || ints_attr(n, "output_shape").is_some()
        || !ones("dilations")
    {
        return None;
    }
    let strides = ints_attr(n, "strides").unwrap_or(vec![1, 1]);
    let pads = ints_attr(n, "pads").unwrap_or(vec![0; 4]);
    let kernel = [w.dims[2] as usize, w.dims[3] as usize];
    if strides.len() != 2 || strides[0] != strides[1] || strides[0] < 2 || pads.len() != 4 {
        return None;
    }
    if pads[0] != pads[2] || pads[1] != pads[3] || pads.iter().any(|&p| p < 0) {
        return None;
    }
    let stride = strides[0] as usize;
    let pad = [pads[0] as usize, pads[1] as usize];
    for axis in 0..2 {
        if kernel[axis] as i64 - 2 * pad[axis] as i64 != stride as i64 {
            return None;
        }
    }
    Some(Geometry {
        stride,
        kernel,
        pad,
    })
}

/// Rewrites every eligible ConvTranspose as sub-pixel convolutions and a
/// DepthToSpace. Returns the rewritten nodes.
pub fn subpixel_conv_transpose(model: &mut pb::ModelProto, how: Subpixel) -> Vec<String> {
    let Some(graph) = model.graph.as_mut() else {
        return vec![];
    };
    let mut done = Vec::new();
    let mut ix = 0;
    while ix < graph.node.len() {
        match subpixel_one(graph, ix, how) {
            Some((label, added)) => {
                done.push(label);
                ix += added;
            }
            None => ix += 1,
        }
    }
    prune_initializers(graph);
    done
}

/// Rewrites the node at `ix`; returns its label and how many nodes now
/// stand in its place.
#[allow(clippy::needless_range_loop)] // phases index two tap tables
fn subpixel_one(graph: &mut pb::GraphProto, ix: usize, how: Subpixel) -> Option<(String, usize)> {
    let n = &graph.node[ix];
    let w = initializer(graph, n.input.get(1)?)?;
    let geo = conv_transpose_geometry(n, w)?;
    let weights = float_values(w)?;
    let (cin, cout) = (w.dims[0] as usize, w.dims[1] as usize);
    let bias = match n.input.get(2).filter(|b| !b.is_empty()) {
        Some(b) => Some(float_values(initializer(graph, b)?)?),
        None => None,
    };
    if bias.as_ref().is_some_and(|b| b.len() != cout) {
        return None;
    }
    let s = geo.stride;
    let [kh, kw] = geo.kernel;
    let taps_h = phase_taps(kh, s, geo.pad[0]);
    let taps_w = phase_taps(kw, s, geo.pad[1]);
    // The offset range each phase convolution covers: its own taps
    // (`Phases`) or every phase's (`Joint`), always including 0 so the
    // zero padding of the convolution is never negative.
    let span = |taps: &[(i64, usize)]| {
        let lo = taps.iter().map(|t| t.0).min().unwrap_or(0).min(0);
        let hi = taps.iter().map(|t| t.0).max().unwrap_or(0).max(0);
        (lo, hi)
    };
    let joint = |all: &[Vec<(i64, usize)>]| {
        let flat: Vec<(i64, usize)> = all.iter().flatten().copied().collect();
        span(&flat)
    };
    let (joint_h, joint_w) = (joint(&taps_h), joint(&taps_w));
    let label = display(n);
    let x = n.input[0].clone();
    let y = n.output[0].clone();
    let stem = if n.name.is_empty() {
        y.clone()
    } else {
        n.name.clone()
    };
    // One convolution per phase: weights [cout, cin, h, w].
    let phase_weights = |a: usize, b: usize, (lo_h, hi_h): (i64, i64), (lo_w, hi_w): (i64, i64)| {
        let (h, wd) = ((hi_h - lo_h + 1) as usize, (hi_w - lo_w + 1) as usize);
        let mut out = vec![0f32; cout * cin * h * wd];
        for &(dh, th) in &taps_h[a] {
            for &(dw, tw) in &taps_w[b] {
                let (r, c) = ((dh - lo_h) as usize, (dw - lo_w) as usize);
                for ci in 0..cin {
                    for co in 0..cout {
                        let src = ((ci * cout + co) * kh + th) * kw + tw;
                        // Correlation: output i reads input i + d at
                        // kernel row d - lo.
                        out[((co * cin + ci) * h + r) * wd + c] = weights[src];
                    }
                }
            }
        }
        (out, h, wd)
    };
    let conv_node = |name: String,
                     inputs: Vec<String>,
                     output: String,
                     (h, wd): (usize, usize),
                     (lo_h, hi_h): (i64, i64),
                     (lo_w, hi_w): (i64, i64)| {
        let mut c = node("Conv", name, inputs, output);
        c.attribute
            .push(ints("kernel_shape", vec![h as i64, wd as i64]));
        c.attribute
            .push(ints("pads", vec![-lo_h, -lo_w, hi_h, hi_w]));
        c
    };
    let mut new_nodes = Vec::new();
    let mut new_inits = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
    let mut name = |graph: &pb::GraphProto, stem: String| {
        let mut n = fresh(graph, &stem);
        let mut i = 1;
        while taken.contains(&n) {
            n = fresh(graph, &format!("{stem}_{i}"));
            i += 1;
        }
        taken.insert(n.clone());
        n
    };
    let phases_out = name(graph, format!("{stem}_phases"));
    match how {
        Subpixel::Joint => {
            let mut all = Vec::new();
            let mut dims = (0, 0);
            for a in 0..s {
                for b in 0..s {
                    let (wts, h, wd) = phase_weights(a, b, joint_h, joint_w);
                    all.extend(wts);
                    dims = (h, wd);
                }
            }
            let w_name = name(graph, format!("{stem}_subpixel_weight"));
            new_inits.push(f32_tensor(
                w_name.clone(),
                &[
                    (s * s * cout) as i64,
                    cin as i64,
                    dims.0 as i64,
                    dims.1 as i64,
                ],
                &all,
            ));
            let mut inputs = vec![x.clone(), w_name];
            if let Some(bias) = &bias {
                let b_name = name(graph, format!("{stem}_subpixel_bias"));
                let tiled: Vec<f32> = (0..s * s).flat_map(|_| bias.iter().copied()).collect();
                new_inits.push(f32_tensor(b_name.clone(), &[tiled.len() as i64], &tiled));
                inputs.push(b_name);
            }
            new_nodes.push(conv_node(
                format!("{stem}_subpixel"),
                inputs,
                phases_out.clone(),
                dims,
                joint_h,
                joint_w,
            ));
        }
        Subpixel::Phases => {
            let mut outs = Vec::new();
            for a in 0..s {
                for b in 0..s {
                    let (sh, sw) = (span(&taps_h[a]), span(&taps_w[b]));
                    let (wts, h, wd) = phase_weights(a, b, sh, sw);
                    let w_name = name(graph, format!("{stem}_phase{a}{b}_weight"));
                    new_inits.push(f32_tensor(
                        w_name.clone(),
                        &[cout as i64, cin as i64, h as i64, wd as i64],
                        &wts,
                    ));
                    let mut inputs = vec![x.clone(), w_name];
                    if let Some(bias) = &bias {
                        let b_name = name(graph, format!("{stem}_phase{a}{b}_bias"));
                        new_inits.push(f32_tensor(b_name.clone(), &[cout as i64], bias));
                        inputs.push(b_name);
                    }
                    let out = name(graph, format!("{stem}_phase{a}{b}"));
                    new_nodes.push(conv_node(
                        format!("{stem}_phase{a}{b}"),
                        inputs,
                        out.clone(),
                        (h, wd),
                        sh,
                        sw,
                    ));
                    outs.push(out);
                }
            }
            let mut concat = node("Concat", format!("{stem}_concat"), outs, phases_out.clone());
            concat.attribute.push(int("axis", 1));
            new_nodes.push(concat);
        }
    }
    let mut d2s = node(
        "DepthToSpace",
        format!("{stem}_depth_to_space"),
        vec![phases_out],
        y,
    );
    d2s.attribute.push(int("blocksize", s as i64));
    d2s.attribute.push(string("mode", "DCR"));
    new_nodes.push(d2s);
    let added = new_nodes.len();
    graph.node.splice(ix..ix + 1, new_nodes);
    graph.initializer.extend(new_inits);
    Some((label, added))
}

/// An int64 initializer.
fn int64_tensor(name: String, values: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name,
        dims: vec![values.len() as i64],
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// The source index ONNX Resize (nearest) reads for output `j` of an
/// axis scaled by an integer `s` from length `len`, or `None` for a
/// coordinate mode whose mapping depends on the length.
fn nearest_source(ctm: &str, nearest: &str, s: usize, len: usize, j: usize) -> Option<i64> {
    let (j, s) = (j as f64, s as f64);
    let x = match ctm {
        "half_pixel" | "pytorch_half_pixel" => (j + 0.5) / s - 0.5,
        "asymmetric" => j / s,
        "tf_half_pixel_for_nn" => (j + 0.5) / s,
        _ => return None,
    };
    let i = match nearest {
        "round_prefer_floor" if x.fract().abs() == 0.5 => x.floor(),
        "round_prefer_ceil" if x.fract().abs() == 0.5 => x.ceil(),
        "round_prefer_floor" | "round_prefer_ceil" => x.round(),
        "floor" => x.floor(),
        "ceil" => x.ceil(),
        _ => return None,
    };
    Some((i as i64).clamp(0, len as i64 - 1))
}

/// For a nearest Resize by integer `s`: the shift `d` such that output
/// `j` reads input `floor((j - d) / s)` (clamped to the edges) at every
/// length, if there is one. `0` is the plain `s`-fold repetition.
pub fn nearest_shift(ctm: &str, nearest: &str, s: usize) -> Option<i64> {
    let si = s as i64;
    (-(si - 1)..si).find(|&d| {
        (2..=12).all(|len| {
            (0..s * len).all(|j| {
                let want = (j as i64 - d).div_euclid(si).clamp(0, len as i64 - 1);
                nearest_source(ctm, nearest, s, len, j) == Some(want)
            })
        })
    })
}

/// Rewrites every nearest-neighbour Resize by the same integer factor `s`
/// on both spatial axes of an NCHW tensor as `s²` copies concatenated on
/// the channel axis and interleaved by DepthToSpace (an exact
/// repetition), followed, for coordinate modes that shift the picture by
/// `d` pixels, by an edge Pad and a Slice. tract's Resize computes every
/// source coordinate per output value; this is copies only.
pub fn resize_nearest_to_depth_to_space(model: &mut pb::ModelProto) -> Vec<String> {
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version);
    let Some(graph) = model.graph.as_mut() else {
        return vec![];
    };
    if opset < 11 {
        return vec![];
    }
    let mut done = Vec::new();
    let mut ix = 0;
    while ix < graph.node.len() {
        match resize_one(graph, ix) {
            Some((label, added)) => {
                done.push(label);
                ix += added;
            }
            None => ix += 1,
        }
    }
    prune_initializers(graph);
    done
}

fn resize_one(graph: &mut pb::GraphProto, ix: usize) -> Option<(String, usize)> {
    let n = &graph.node[ix];
    if n.op_type != "Resize" || n.output.len() != 1 {
        return None;
    }
    let mode = string_attr(n, "mode").unwrap_or_else(|| "nearest".into());
    let ctm =
        string_attr(n, "coordinate_transformation_mode").unwrap_or_else(|| "half_pixel".into());
    let nearest = string_attr(n, "nearest_mode").unwrap_or_else(|| "round_prefer_floor".into());
    if mode != "nearest"
        || int_attr(n, "antialias").unwrap_or(0) != 0
        || n.attribute.iter().any(|a| a.name == "axes")
        || n.input.get(3).is_some_and(|s| !s.is_empty())
    {
        return None;
    }
    let scales = float_values(initializer(graph, n.input.get(2)?)?)?;
    let s = scales.get(2).copied()?;
    if scales.len() != 4 || scales[0] != 1.0 || scales[1] != 1.0 || scales[3] != s {
        return None;
    }
    if s.fract() != 0.0 || !(2.0..=8.0).contains(&s) {
        return None;
    }
    let s = s as usize;
    let shift = nearest_shift(&ctm, &nearest, s)?;
    let label = display(n);
    let (x, y) = (n.input[0].clone(), n.output[0].clone());
    let stem = if n.name.is_empty() {
        y.clone()
    } else {
        n.name.clone()
    };
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    // A shifted mode: output j reads input floor((j - d) / s). Pad the
    // (small) source by one edge row and column first, before (d > 0) or
    // after (d < 0), repeat it, and cut the s-fold picture out of the
    // repetition: output j is repeated[j + s - d] (d > 0) or
    // repeated[j - d] (d < 0).
    let source = if shift == 0 {
        x
    } else {
        let (begin, end) = if shift > 0 { (1, 0) } else { (0, 1) };
        let pads = fresh(graph, &format!("{stem}_shift_pads"));
        inits.push(int64_tensor(
            pads.clone(),
            &[0, 0, begin, begin, 0, 0, end, end],
        ));
        let padded = format!("{pads}_padded");
        let mut pad = node(
            "Pad",
            format!("{stem}_shift_pad"),
            vec![x, pads],
            padded.clone(),
        );
        pad.attribute.push(string("mode", "edge"));
        nodes.push(pad);
        padded
    };
    let tiled = fresh(graph, &format!("{stem}_tiled"));
    let mut concat = node(
        "Concat",
        format!("{stem}_tile"),
        vec![source; s * s],
        tiled.clone(),
    );
    concat.attribute.push(int("axis", 1));
    nodes.push(concat);
    let d2s_out = if shift == 0 {
        y.clone()
    } else {
        fresh(graph, &format!("{stem}_repeated"))
    };
    let mut d2s = node(
        "DepthToSpace",
        format!("{stem}_depth_to_space"),
        vec![tiled],
        d2s_out.clone(),
    );
    d2s.attribute.push(int("blocksize", s as i64));
    d2s.attribute.push(string("mode", "DCR"));
    nodes.push(d2s);
    if shift != 0 {
        let (d, s) = (shift.abs(), s as i64);
        let (from, to) = if shift > 0 {
            (s - d, -d)
        } else {
            (d, -(s - d))
        };
        let starts = fresh(graph, &format!("{stem}_shift_starts"));
        let ends = format!("{starts}_ends");
        let axes = format!("{starts}_axes");
        inits.push(int64_tensor(starts.clone(), &[from, from]));
        inits.push(int64_tensor(ends.clone(), &[to, to]));
        inits.push(int64_tensor(axes.clone(), &[2, 3]));
        nodes.push(node(
            "Slice",
            format!("{stem}_shift_slice"),
            vec![d2s_out, starts, ends, axes],
            y,
        ));
    }
    let added = nodes.len();
    graph.node.splice(ix..ix + 1, nodes);
    graph.initializer.extend(inits);
    Some((label, added))
}

/// Rewrites every stride-1, unpadded, group-1 Conv with few output
/// channels (at most `max_out`) and an odd kernel of 3 or more over an
/// input of even height and width as SpaceToDepth(2), a Conv producing 4×
/// the channels with a kernel about half as wide, and DepthToSpace(2).
/// tract's matrix kernels compute a tile of many output channels at once:
/// a 3-channel output (the last layer of most image networks) leaves
/// most of each tile empty; four times as many rows fill it.
pub fn space_to_depth_thin_conv(model: &mut pb::ModelProto, max_out: usize) -> Vec<String> {
    let Some(graph) = model.graph.as_mut() else {
        return vec![];
    };
    let mut done = Vec::new();
    let mut ix = 0;
    while ix < graph.node.len() {
        match thin_conv_one(graph, ix, max_out) {
            Some(label) => {
                done.push(label);
                ix += 3;
            }
            None => ix += 1,
        }
    }
    prune_initializers(graph);
    done
}

fn thin_conv_one(graph: &mut pb::GraphProto, ix: usize, max_out: usize) -> Option<String> {
    const B: usize = 2;
    let n = &graph.node[ix];
    if n.op_type != "Conv" {
        return None;
    }
    let w = initializer(graph, n.input.get(1)?)?;
    if w.dims.len() != 4 {
        return None;
    }
    let (cout, cin, kh, kw) = (
        w.dims[0] as usize,
        w.dims[1] as usize,
        w.dims[2] as usize,
        w.dims[3] as usize,
    );
    let auto_pad = string_attr(n, "auto_pad").unwrap_or_default();
    let all = |name, v: i64| ints_attr(n, name).is_none_or(|x: Vec<i64>| x.iter().all(|&e| e == v));
    if cout > max_out
        || int_attr(n, "group").unwrap_or(1) != 1
        || !(auto_pad.is_empty() || auto_pad == "NOTSET")
        || !all("pads", 0)
        || !all("strides", 1)
        || !all("dilations", 1)
        || kh < 3
        || kw < 3
        || kh % 2 == 0
        || kw % 2 == 0
    {
        return None;
    }
    let weights = float_values(w)?;
    let bias = match n.input.get(2).filter(|b| !b.is_empty()) {
        Some(b) => Some(float_values(initializer(graph, b)?)?),
        None => None,
    };
    // Output 2i + a reads input rows 2i + a + t = 2(i + r) + p: block row
    // r = (a + t) / 2, phase p = (a + t) % 2. With an even input height H
    // and an odd kernel k, the block kernel (k + 1) / 2 yields exactly
    // (H - k + 1) / 2 rows per phase. The input size itself is checked by
    // tract (SpaceToDepth refuses an odd size) and by verification.
    let (kh2, kw2) = ((kh + 1) / B, (kw + 1) / B);
    let cin2 = cin * B * B;
    let cout2 = cout * B * B;
    let mut w2 = vec![0f32; cout2 * cin2 * kh2 * kw2];
    for a in 0..B {
        for b in 0..B {
            for co in 0..cout {
                for ci in 0..cin {
                    for t in 0..kh {
                        for u in 0..kw {
                            let (r, ph) = ((a + t) / B, (a + t) % B);
                            let (q, pw) = ((b + u) / B, (b + u) % B);
                            let o = (a * B + b) * cout + co;
                            let i = (ph * B + pw) * cin + ci;
                            w2[((o * cin2 + i) * kh2 + r) * kw2 + q] =
                                weights[((co * cin + ci) * kh + t) * kw + u];
                        }
                    }
                }
            }
        }
    }
    let label = display(n);
    let (x, y) = (n.input[0].clone(), n.output[0].clone());
    let stem = if n.name.is_empty() {
        y.clone()
    } else {
        n.name.clone()
    };
    let s2d_out = fresh(graph, &format!("{stem}_s2d"));
    let conv_out = fresh(graph, &format!("{stem}_blocks"));
    let w_name = fresh(graph, &format!("{stem}_s2d_weight"));
    let mut inits = vec![f32_tensor(
        w_name.clone(),
        &[cout2 as i64, cin2 as i64, kh2 as i64, kw2 as i64],
        &w2,
    )];
    let mut conv_inputs = vec![s2d_out.clone(), w_name];
    if let Some(bias) = bias {
        let b_name = fresh(graph, &format!("{stem}_s2d_bias"));
        let tiled: Vec<f32> = (0..B * B).flat_map(|_| bias.iter().copied()).collect();
        inits.push(f32_tensor(b_name.clone(), &[cout2 as i64], &tiled));
        conv_inputs.push(b_name);
    }
    let mut s2d = node(
        "SpaceToDepth",
        format!("{stem}_space_to_depth"),
        vec![x],
        s2d_out,
    );
    s2d.attribute.push(int("blocksize", B as i64));
    let mut conv = node(
        "Conv",
        format!("{stem}_blocks"),
        conv_inputs,
        conv_out.clone(),
    );
    conv.attribute
        .push(ints("kernel_shape", vec![kh2 as i64, kw2 as i64]));
    let mut d2s = node(
        "DepthToSpace",
        format!("{stem}_depth_to_space"),
        vec![conv_out],
        y,
    );
    d2s.attribute.push(int("blocksize", B as i64));
    d2s.attribute.push(string("mode", "DCR"));
    graph.node.splice(ix..ix + 1, [s2d, conv, d2s]);
    graph.initializer.extend(inits);
    Some(label)
}

/// Rewrites every unpadded, group-1, stride-2 Conv with an odd kernel
/// over an input of even height and width as SpaceToDepth(2) and a
/// stride-1 Conv over 4× the input channels with a (k+1)/2 kernel: output
/// i reads input rows 2i + t = 2(i + r) + p, block row r = t / 2, phase
/// p = t % 2. tract runs strided convolutions on a slower path (direct
/// spatial or a strided im2col); the dense form costs (k+1)²/k² the MACs.
pub fn space_to_depth_strided_conv(model: &mut pb::ModelProto) -> Vec<String> {
    let Some(graph) = model.graph.as_mut() else {
        return vec![];
    };
    let mut done = Vec::new();
    let mut ix = 0;
    while ix < graph.node.len() {
        match strided_conv_one(graph, ix) {
            Some(label) => {
                done.push(label);
                ix += 2;
            }
            None => ix += 1,
        }
    }
    prune_initializers(graph);
    done
}

fn strided_conv_one(graph: &mut pb::GraphProto, ix: usize) -> Option<String> {
    const B: usize = 2;
    let n = &graph.node[ix];
    if n.op_type != "Conv" {
        return None;
    }
    let w = initializer(graph, n.input.get(1)?)?;
    if w.dims.len() != 4 {
        return None;
    }
    let (cout, cin, kh, kw) = (
        w.dims[0] as usize,
        w.dims[1] as usize,
        w.dims[2] as usize,
        w.dims[3] as usize,
    );
    let auto_pad = string_attr(n, "auto_pad").unwrap_or_default();
    let all = |name, v: i64| ints_attr(n, name).is_none_or(|x: Vec<i64>| x.iter().all(|&e| e == v));
    let strides = ints_attr(n, "strides").unwrap_or_default();
    if strides != [B as i64, B as i64]
        || int_attr(n, "group").unwrap_or(1) != 1
        || !(auto_pad.is_empty() || auto_pad == "NOTSET")
        || !all("pads", 0)
        || !all("dilations", 1)
        || kh.is_multiple_of(2)
        || kw.is_multiple_of(2)
    {
        return None;
    }
    let weights = float_values(w)?;
    let (kh2, kw2) = ((kh + 1) / B, (kw + 1) / B);
    let cin2 = cin * B * B;
    let mut w2 = vec![0f32; cout * cin2 * kh2 * kw2];
    for co in 0..cout {
        for ci in 0..cin {
            for t in 0..kh {
                for u in 0..kw {
                    let i = ((t % B) * B + u % B) * cin + ci;
                    w2[((co * cin2 + i) * kh2 + t / B) * kw2 + u / B] =
                        weights[((co * cin + ci) * kh + t) * kw + u];
                }
            }
        }
    }
    let label = display(n);
    let x = n.input[0].clone();
    let bias = n.input.get(2).filter(|b| !b.is_empty()).cloned();
    let stem = if n.name.is_empty() {
        n.output[0].clone()
    } else {
        n.name.clone()
    };
    let s2d_out = fresh(graph, &format!("{stem}_s2d"));
    let w_name = fresh(graph, &format!("{stem}_s2d_weight"));
    graph.initializer.push(f32_tensor(
        w_name.clone(),
        &[cout as i64, cin2 as i64, kh2 as i64, kw2 as i64],
        &w2,
    ));
    let mut s2d = node(
        "SpaceToDepth",
        format!("{stem}_space_to_depth"),
        vec![x],
        s2d_out.clone(),
    );
    s2d.attribute.push(int("blocksize", B as i64));
    let conv = &mut graph.node[ix];
    conv.input = [s2d_out, w_name].into_iter().chain(bias).collect();
    conv.attribute = vec![ints("kernel_shape", vec![kh2 as i64, kw2 as i64])];
    graph.node.insert(ix, s2d);
    Some(label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_engine::seed::Latent;
    use tract_onnx::prelude::*;

    /// A one-input, one-output model around `nodes` (input `x`, output `y`).
    fn model(
        x_shape: &[usize],
        nodes: Vec<pb::NodeProto>,
        initializer: Vec<pb::TensorProto>,
    ) -> pb::ModelProto {
        let info = |name: &str| pb::ValueInfoProto {
            name: name.into(),
            ..Default::default()
        };
        let mut x = info("x");
        x.r#type = Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: x_shape
                        .iter()
                        .map(|&d| pb::tensor_shape_proto::Dimension {
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(
                                d as i64,
                            )),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        });
        pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            }],
            graph: Some(pb::GraphProto {
                node: nodes,
                initializer,
                input: vec![x],
                output: vec![info("y")],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn random(seed: u64, dims: &[usize]) -> Vec<f32> {
        Latent::from_seed(seed, dims.iter().product()).values
    }

    fn weight(name: &str, seed: u64, dims: &[usize], scale: f32) -> pb::TensorProto {
        let values: Vec<f32> = random(seed, dims).iter().map(|v| v * scale).collect();
        let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        f32_tensor(name.into(), &dims, &values)
    }

    fn with_attrs(mut n: pb::NodeProto, attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
        n.attribute = attrs;
        n
    }

    /// Runs `m` in tract on `x`.
    fn run(m: &pb::ModelProto, shape: &[usize], x: &[f32]) -> (Vec<usize>, Vec<f32>) {
        let plan = tract_onnx::onnx()
            .model_for_proto_model(m)
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let input = Tensor::from_shape(shape, x).unwrap();
        let out = plan.run(tvec![input.into_tvalue()]).unwrap();
        let y = out[0].cast_to::<f32>().unwrap();
        (
            y.shape().to_vec(),
            y.try_as_plain_ram()
                .unwrap()
                .as_slice::<f32>()
                .unwrap()
                .to_vec(),
        )
    }

    /// The rewritten model computes what the original does, on 3 inputs.
    fn assert_same(original: &pb::ModelProto, rewritten: &pb::ModelProto, shape: &[usize]) {
        for seed in 1..=3 {
            let x = random(seed * 977, shape);
            let (sa, a) = run(original, shape, &x);
            let (sb, b) = run(rewritten, shape, &x);
            assert_eq!(sa, sb, "output shape");
            let err = a
                .iter()
                .zip(&b)
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max);
            let scale = a.iter().map(|v| v.abs()).fold(1f32, f32::max);
            assert!(err <= 1e-5 * scale, "max abs error {err} (scale {scale})");
        }
    }

    fn ops(m: &pb::ModelProto) -> Vec<&str> {
        m.graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .map(|n| n.op_type.as_str())
            .collect()
    }

    fn batch_norm(c: usize, x: &str, y: &str) -> (pb::NodeProto, Vec<pb::TensorProto>) {
        let var: Vec<f32> = random(5, &[c]).iter().map(|v| 0.5 + v.abs()).collect();
        let inits = vec![
            weight("gamma", 2, &[c], 0.3),
            weight("beta", 3, &[c], 0.3),
            weight("mean", 4, &[c], 0.3),
            f32_tensor("var".into(), &[c as i64], &var),
        ];
        let n = with_attrs(
            node(
                "BatchNormalization",
                "bn".into(),
                vec![
                    x.into(),
                    "gamma".into(),
                    "beta".into(),
                    "mean".into(),
                    "var".into(),
                ],
                y.into(),
            ),
            vec![pb::AttributeProto {
                name: "epsilon".into(),
                r#type: pb::attribute_proto::AttributeType::Float as i32,
                f: 1e-3,
                ..Default::default()
            }],
        );
        (n, inits)
    }

    #[test]
    fn batch_norm_folds_into_conv_and_conv_transpose() {
        for (op, w_dims, bias) in [
            ("Conv", [6usize, 4, 3, 3], true),
            ("Conv", [6, 4, 3, 3], false),
            ("ConvTranspose", [4, 6, 4, 4], false),
            ("ConvTranspose", [4, 6, 4, 4], true),
        ] {
            let mut inputs = vec!["x".to_string(), "w".into()];
            let mut inits = vec![weight("w", 1, &w_dims, 0.3)];
            if bias {
                inputs.push("b".into());
                inits.push(weight("b", 9, &[6], 0.3));
            }
            let strides = if op == "Conv" { 1 } else { 2 };
            let conv = with_attrs(
                node(op, "conv".into(), inputs, "h".into()),
                vec![
                    ints("strides", vec![strides, strides]),
                    ints("pads", vec![1; 4]),
                ],
            );
            let (bn, bn_inits) = batch_norm(6, "h", "y");
            inits.extend(bn_inits);
            let original = model(&[1, 4, 5, 5], vec![conv, bn], inits);
            let mut rewritten = original.clone();
            let done = fold_batch_norm(&mut rewritten);
            assert_eq!(done.len(), 1, "{op}: {done:?}");
            assert_eq!(ops(&rewritten), vec![op]);
            // The BatchNorm's parameters and the old weights are gone.
            assert_eq!(rewritten.graph.as_ref().unwrap().initializer.len(), 2);
            assert_same(&original, &rewritten, &[1, 4, 5, 5]);
        }
    }

    #[test]
    fn batch_norm_stays_when_it_cannot_fold() {
        // The conv output is read twice (by the BatchNorm and by Add).
        let conv = node(
            "Conv",
            "conv".into(),
            vec!["x".into(), "w".into()],
            "h".into(),
        );
        let (bn, mut inits) = batch_norm(4, "h", "n");
        let add = node(
            "Add",
            "add".into(),
            vec!["h".into(), "n".into()],
            "y".into(),
        );
        inits.push(weight("w", 1, &[4, 4, 1, 1], 0.5));
        let mut m = model(&[1, 4, 3, 3], vec![conv, bn, add], inits);
        let before = m.clone();
        assert!(fold_batch_norm(&mut m).is_empty());
        assert_eq!(m, before);
        // A BatchNorm on a graph input has no layer to fold into.
        let (bn, inits) = batch_norm(4, "x", "y");
        let mut m = model(&[1, 4, 3, 3], vec![bn], inits);
        assert!(fold_batch_norm(&mut m).is_empty());
    }

    fn conv_transpose(
        cin: usize,
        cout: usize,
        k: usize,
        s: i64,
        p: i64,
        bias: bool,
    ) -> pb::ModelProto {
        let mut inputs = vec!["x".to_string(), "w".into()];
        let mut inits = vec![weight("w", 11, &[cin, cout, k, k], 0.3)];
        if bias {
            inputs.push("b".into());
            inits.push(weight("b", 12, &[cout], 0.3));
        }
        let ct = with_attrs(
            node("ConvTranspose", "ct".into(), inputs, "y".into()),
            vec![
                ints("kernel_shape", vec![k as i64, k as i64]),
                ints("strides", vec![s, s]),
                ints("pads", vec![p; 4]),
            ],
        );
        model(&[1, cin, 5, 6], vec![ct], inits)
    }

    #[test]
    fn subpixel_matches_conv_transpose_for_every_geometry() {
        // (kernel, stride, pad) with k - 2p = s: DCGAN's 4/2/1 and others.
        for (k, s, p) in [(4, 2, 1), (2, 2, 0), (6, 2, 2), (3, 3, 0), (5, 3, 1)] {
            for how in [Subpixel::Phases, Subpixel::Joint] {
                let original = conv_transpose(3, 5, k, s, p, (k + s as usize).is_multiple_of(2));
                let mut rewritten = original.clone();
                let done = subpixel_conv_transpose(&mut rewritten, how);
                assert_eq!(done.len(), 1, "k{k} s{s} p{p}");
                assert!(!ops(&rewritten).contains(&"ConvTranspose"));
                assert_eq!(ops(&rewritten).last(), Some(&"DepthToSpace"));
                assert_same(&original, &rewritten, &[1, 3, 5, 6]);
            }
        }
    }

    #[test]
    fn subpixel_leaves_other_transposed_convolutions_alone() {
        // Output not s times the input (k - 2p != s), and stride 1.
        for (k, s, p) in [(3, 2, 0), (4, 1, 0)] {
            let mut m = conv_transpose(3, 5, k, s, p, false);
            let before = m.clone();
            assert!(subpixel_conv_transpose(&mut m, Subpixel::Phases).is_empty());
            assert_eq!(m, before);
        }
    }

    fn resize(ctm: &str, nearest: &str, scale: f32) -> pb::ModelProto {
        let n = with_attrs(
            node(
                "Resize",
                "resize".into(),
                vec!["x".into(), String::new(), "scales".into()],
                "y".into(),
            ),
            vec![
                string("mode", "nearest"),
                string("coordinate_transformation_mode", ctm),
                string("nearest_mode", nearest),
            ],
        );
        let scales = f32_tensor("scales".into(), &[4], &[1.0, 1.0, scale, scale]);
        model(&[1, 2, 5, 7], vec![n], vec![scales])
    }

    #[test]
    fn nearest_shift_follows_the_onnx_coordinate_formulas() {
        assert_eq!(nearest_shift("asymmetric", "floor", 2), Some(0));
        assert_eq!(
            nearest_shift("half_pixel", "round_prefer_floor", 2),
            Some(0)
        );
        // The style network's mode: output j reads floor(j/2 - 1/4).
        assert_eq!(nearest_shift("half_pixel", "floor", 2), Some(1));
        assert_eq!(nearest_shift("half_pixel", "ceil", 2), Some(-1));
        // align_corners depends on the length: not a fixed repetition.
        assert_eq!(nearest_shift("align_corners", "floor", 2), None);
    }

    #[test]
    fn resize_nearest_rewrite_is_exact_for_every_mode_it_takes() {
        let mut taken = 0;
        for ctm in [
            "half_pixel",
            "asymmetric",
            "pytorch_half_pixel",
            "tf_half_pixel_for_nn",
        ] {
            for nearest in ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"] {
                for scale in [2.0, 3.0] {
                    let original = resize(ctm, nearest, scale);
                    let mut rewritten = original.clone();
                    if resize_nearest_to_depth_to_space(&mut rewritten).is_empty() {
                        continue;
                    }
                    taken += 1;
                    assert!(!ops(&rewritten).contains(&"Resize"));
                    // Exact: copies only, so the very same values, and
                    // the ones the ONNX formula names.
                    let shape = [1, 2, 5, 7];
                    let x = random(3, &shape);
                    let (sa, a) = run(&original, &shape, &x);
                    let (sb, b) = run(&rewritten, &shape, &x);
                    assert_eq!((sa.clone(), &a), (sb, &b), "{ctm} {nearest} x{scale}");
                    let s = scale as usize;
                    let (h, w) = (5 * s, 7 * s);
                    for (c, i, j) in [(0, 0, 0), (1, h - 1, w - 1), (1, 3, 4), (0, h / 2, 1)] {
                        let si = nearest_source(ctm, nearest, s, 5, i).unwrap() as usize;
                        let sj = nearest_source(ctm, nearest, s, 7, j).unwrap() as usize;
                        assert_eq!(b[(c * h + i) * w + j], x[(c * 5 + si) * 7 + sj]);
                    }
                }
            }
        }
        assert!(taken >= 10, "only {taken} modes rewritten");
    }

    #[test]
    fn strided_conv_rewrite_matches_and_leaves_others_alone() {
        for (k, bias, shape) in [
            (3, true, [1, 4, 10, 14]),
            (5, false, [1, 4, 12, 8]),
            (1, true, [1, 4, 6, 6]),
        ] {
            let mut inputs = vec!["x".to_string(), "w".into()];
            let mut inits = vec![weight("w", 31, &[6, 4, k, k], 0.3)];
            if bias {
                inputs.push("b".into());
                inits.push(weight("b", 32, &[6], 0.3));
            }
            let conv = with_attrs(
                node("Conv", "conv".into(), inputs, "y".into()),
                vec![
                    ints("strides", vec![2, 2]),
                    ints("kernel_shape", vec![k as i64; 2]),
                ],
            );
            let original = model(&shape, vec![conv], inits);
            let mut rewritten = original.clone();
            assert_eq!(space_to_depth_strided_conv(&mut rewritten).len(), 1, "k{k}");
            assert_eq!(ops(&rewritten), vec!["SpaceToDepth", "Conv"]);
            assert_same(&original, &rewritten, &shape);
        }
        for attrs in [
            vec![ints("strides", vec![1, 1])],
            vec![ints("strides", vec![2, 2]), ints("pads", vec![1; 4])],
            vec![ints("strides", vec![2, 1])],
        ] {
            let conv = with_attrs(
                node(
                    "Conv",
                    "conv".into(),
                    vec!["x".into(), "w".into()],
                    "y".into(),
                ),
                attrs,
            );
            let mut m = model(
                &[1, 4, 8, 8],
                vec![conv],
                vec![weight("w", 1, &[6, 4, 3, 3], 0.2)],
            );
            assert!(space_to_depth_strided_conv(&mut m).is_empty());
        }
    }

    #[test]
    fn thin_conv_rewrite_matches_for_odd_kernels_and_few_channels() {
        for (cout, k, bias) in [(3, 9, true), (1, 3, false), (4, 5, true), (2, 7, false)] {
            let mut inputs = vec!["x".to_string(), "w".into()];
            let mut inits = vec![weight("w", 21, &[cout, 5, k, k], 0.2)];
            if bias {
                inputs.push("b".into());
                inits.push(weight("b", 22, &[cout], 0.2));
            }
            let conv = node("Conv", "conv".into(), inputs, "y".into());
            let original = model(&[1, 5, 12, 16], vec![conv], inits);
            let mut rewritten = original.clone();
            assert_eq!(space_to_depth_thin_conv(&mut rewritten, 4).len(), 1);
            assert_eq!(
                ops(&rewritten),
                vec!["SpaceToDepth", "Conv", "DepthToSpace"]
            );
            assert_same(&original, &rewritten, &[1, 5, 12, 16]);
        }
        // Too many output channels, an even kernel, padding or a stride:
        // left alone.
        for (cout, k, attrs) in [
            (8, 3, vec![]),
            (3, 4, vec![]),
            (3, 3, vec![ints("pads", vec![1; 4])]),
            (3, 3, vec![ints("strides", vec![2, 2])]),
        ] {
            let conv = with_attrs(
                node(
                    "Conv",
                    "conv".into(),
                    vec!["x".into(), "w".into()],
                    "y".into(),
                ),
                attrs,
            );
            let mut m = model(
                &[1, 5, 12, 16],
                vec![conv],
                vec![weight("w", 1, &[cout, 5, k, k], 0.2)],
            );
            assert!(space_to_depth_thin_conv(&mut m, 4).is_empty());
        }
    }
}
