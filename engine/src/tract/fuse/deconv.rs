//! Finds transposed convolutions (`Deconv`, ONNX `ConvTranspose`) and the
//! per-channel scale, shift and ReLU after them (a DCGAN's
//! BatchNorm + ReLU), and wires them as a matrix product followed by one
//! [`DeconvSum`](super::deconv_op::DeconvSum) of easel's.
//!
//! tract lowers a transposed convolution to a product
//! (`[Cout·kh·kw, Cin] × [Cin, H·W]`, one column per input pixel and tap)
//! and a scatter-add of those columns into a bias tensor broadcast to the
//! whole output (`DeconvSum`); the batch norm and ReLU after it are
//! another pass. tract's scatter walks the channels innermost on inputs
//! narrower than 16 pixels — on dcgan-64 most of its layers — so it
//! strides through memory, 23 % of the model's time. Here one op adds
//! each channel's taps into its output plane while the plane is in L1,
//! then applies the bias, scale, shift and ReLU before moving on.
//!
//! The product itself is easel's direct convolution kernel
//! (`conv_kernel.rs`) as a 1x1 convolution over the input pixels, its
//! matrix packed once at load, where tract re-packed the input on every
//! run and ran its kernels at 51-58 GMAC/s on dcgan-64's layers (easel's
//! 70-78 on the layers of 64 pixels and more, docs/performance.md).
//! Inputs of fewer than [`MIN_COLUMNS`] pixels (a DCGAN's first layer,
//! one pixel) keep tract's product.

use super::conv_op::DirectConv;
use super::deconv_op::DeconvSum;
use super::{concrete, f32_values, sole_successor};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::cnn::{Deconv, KernelFormat};
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::nn::DataFormat;

/// Replaces every transposed convolution it can; how many.
pub fn fuse(model: &mut TypedModel) -> TractResult<usize> {
    super::replace_each(model, find, wire)
}

/// Fewest columns (input pixels of all images) the product takes through
/// easel's kernel: below one AVX-512 register it would go column by
/// column, and tract's product (a matrix-vector kernel at one column) is
/// the better one.
const MIN_COLUMNS: usize = 16;

/// The patch that puts `found` in.
fn wire(model: &TypedModel, found: Found) -> TractResult<TypedModelPatch> {
    let mut patch = TypedModelPatch::new("easel deconv sum");
    let name = &model.node(found.deconv).name;
    let [n, cin, h, w] = found.input_shape;
    let (rows, columns) = (found.op.channels * found.op.taps(), n * h * w);
    // [N, Cin, H, W] -> [Cin, N·H·W]: the images side by side in the
    // product's columns (a copy only when N > 1).
    let x = patch.tap_model(model, found.input)?;
    let x = patch.wire_node(format!("{name}.easel_images"), AxisOp::Move(0, 1), &[x])?;
    let dims = tvec![n.to_dim(), h.to_dim(), w.to_dim()];
    let flat = patch.wire_node(
        format!("{name}.easel_flat"),
        AxisOp::Reshape(1, dims, tvec![columns.to_dim()]),
        &x,
    )?;
    let product = if columns >= MIN_COLUMNS {
        // The product is a 1x1 convolution of a one-row image of Cin
        // channels and N·H·W pixels: easel's direct kernel, the matrix
        // packed once here ([1, Cin, 1, N·H·W] -> [1, rows, 1, N·H·W]).
        let image = patch.wire_node(format!("{name}.easel_batch"), AxisOp::Add(0), &flat)?;
        let image = patch.wire_node(format!("{name}.easel_row"), AxisOp::Add(2), &image)?;
        let matrix = f32_values(&found.matrix)
            .ok_or_else(|| TractError::msg("the product's matrix is not plain f32"))?;
        let conv = DirectConv::new(
            [1, cin, 1, columns],
            [rows, cin, 1, 1],
            &matrix,
            vec![0.0; rows],
        );
        patch.wire_node(format!("{name}.easel_product"), conv, &image)?
    } else {
        let kernel = patch.add_const(format!("{name}.easel_kernel"), found.matrix)?;
        patch.wire_node(
            format!("{name}.easel_einsum"),
            EinSum {
                axes: "mk,kn->mn".parse()?,
                operating_dt: f32::datum_type(),
                q_params: None,
            },
            &[kernel, flat[0]],
        )?
    };
    // Row-major [rows, N·H·W] either way, which is what the sum reads.
    debug_assert_eq!(
        patch
            .outlet_fact(product[0])?
            .shape
            .as_concrete()
            .map(|s| s.iter().product::<usize>()),
        Some(rows * columns)
    );
    let out = patch.wire_node(format!("{name}.easel_sum"), found.op, &product)?;
    patch.shunt_outside(model, OutletId::new(found.last, 0), out[0])?;
    Ok(patch)
}

/// A transposed convolution found in the graph, ready to wire.
struct Found {
    deconv: usize,
    /// The data input, `[N, Cin, H, W]`.
    input: OutletId,
    input_shape: [usize; 4],
    /// The product's left side, `[Cout·kh·kw, Cin]`.
    matrix: Tensor,
    op: DeconvSum,
    /// The node whose output the op replaces (the deconv, or the last of
    /// the scale, shift and ReLU after it).
    last: usize,
}

/// Node `id` as a transposed convolution easel can sum: f32 images,
/// NCHW, two spatial axes, one group, constant kernel and bias, every
/// shape known.
fn find(model: &TypedModel, id: usize) -> Option<Found> {
    let node = model.node(id);
    let deconv = node.op_as::<Deconv>()?;
    let spec = &deconv.pool_spec;
    if deconv.group != 1
        || deconv.kernel_format != KernelFormat::OIHW
        || spec.data_format != DataFormat::NCHW
        || spec.rank() != 2
        || node.inputs.len() != 3
    {
        return None;
    }
    let input_shape: [usize; 4] = concrete(model, node.inputs[0])?.try_into().ok()?;
    let output_shape: [usize; 4] = concrete(model, OutletId::new(id, 0))?.try_into().ok()?;
    let [n, cin, h, w] = input_shape;
    let [on, cout, oh, ow] = output_shape;
    if on != n {
        return None;
    }
    let kernel = model.outlet_fact(node.inputs[1]).ok()?.konst.clone()?;
    let (kh, kw) = (spec.kernel_shape[0], spec.kernel_shape[1]);
    if kernel.shape() != [cout, cin, kh, kw] || kernel.datum_type() != f32::datum_type() {
        return None;
    }
    let shift = super::channel_bias(model, node.inputs[2], cout)?;
    let padding = spec
        .padding
        .compute_for_deconv(
            &[h, w],
            &spec.kernel_shape,
            &spec.dilations(),
            &spec.strides(),
            &deconv.adjustments,
        )
        .ok()?;
    let mut op = DeconvSum {
        channels: cout,
        kernel: [kh, kw],
        strides: [spec.strides()[0], spec.strides()[1]],
        dilations: [spec.dilations()[0], spec.dilations()[1]],
        pad_before: [padding[0].pad_before, padding[1].pad_before],
        input: [h, w],
        output: [oh, ow],
        scale: vec![1.0; cout],
        shift,
        relu: false,
        batch: n,
    };
    let mut last = id;
    while let Some(next) = sole_successor(model, last) {
        if !absorb(model, next, OutletId::new(last, 0), &mut op) {
            break;
        }
        last = next;
    }
    Some(Found {
        deconv: id,
        input: node.inputs[0],
        input_shape,
        matrix: product_matrix(&kernel)?,
        op,
        last,
    })
}

/// `[Cout, Cin, kh, kw]` -> `[Cout·kh·kw, Cin]`: row `(o, ky, kx)`, the
/// order tract's own lowering uses and [`DeconvSum`] reads.
fn product_matrix(kernel: &Tensor) -> Option<Tensor> {
    let &[cout, cin, kh, kw] = kernel.shape() else {
        return None;
    };
    let k = f32_values(kernel)?;
    let taps = kh * kw;
    let mut m = vec![0.0f32; cout * taps * cin];
    for o in 0..cout {
        for i in 0..cin {
            for t in 0..taps {
                m[(o * taps + t) * cin + i] = k[(o * cin + i) * taps + t];
            }
        }
    }
    Tensor::from_shape(&[cout * taps, cin], &m).ok()
}

/// Folds node `id` (reading `wire`, the op's output so far) into `op`
/// when it is a per-channel constant `Mul` or `Add`, or a ReLU
/// (`Max` with 0) — the last thing absorbed, since it is not linear.
fn absorb(model: &TypedModel, id: usize, wire: OutletId, op: &mut DeconvSum) -> bool {
    if op.relu {
        return false;
    }
    let node = model.node(id);
    let Some(bin) = node.op_as::<TypedBinOp>() else {
        return false;
    };
    if bin.1.is_some() || node.inputs.len() != 2 {
        return false;
    }
    let other = match (node.inputs[0] == wire, node.inputs[1] == wire) {
        (true, false) => node.inputs[1],
        (false, true) => node.inputs[0],
        _ => return false,
    };
    let Some(values) = per_channel(model, other, op.channels) else {
        return false;
    };
    // The output shape must stay the op's (no broadcast that grows it).
    if concrete(model, OutletId::new(id, 0)).as_deref() != Some(&op.output_shape()[..]) {
        return false;
    }
    match bin.0.name() {
        "Mul" => {
            for ((s, h), v) in op.scale.iter_mut().zip(&mut op.shift).zip(&values) {
                *s *= v;
                *h *= v;
            }
        }
        "Add" => op.shift.iter_mut().zip(&values).for_each(|(h, v)| *h += v),
        "Max" if values.iter().all(|&v| v == 0.0) => op.relu = true,
        _ => return false,
    }
    true
}

/// A constant of one value, or one per channel (`[1.., C, 1, 1]`), as
/// `channels` values.
fn per_channel(model: &TypedModel, outlet: OutletId, channels: usize) -> Option<Vec<f32>> {
    let konst = model.outlet_fact(outlet).ok()?.konst.clone()?;
    let v = f32_values(&konst)?;
    if v.len() == 1 {
        return Some(vec![v[0]; channels]);
    }
    let [lead @ .., c, 1, 1] = konst.shape() else {
        return None;
    };
    (*c == channels && lead.iter().all(|&d| d == 1)).then_some(v)
}
