//! Finds convolutions easel computes directly ([`DirectConv`]): f32,
//! NCHW, two spatial axes, one group, stride and dilation 1, no padding
//! of their own (a style network pads by reflection before each one),
//! constant kernel and bias, at least two taps, output rows of at least
//! [`MIN_WIDTH`] pixels.
//!
//! tract lowers such a convolution to a matrix product over an im2col
//! view of the input, `[Cout] x [Cin·kh·kw] x [pixels]`, packing the view
//! for its kernel on every run, and tiles the output channels by 16
//! (AVX-512) or 8: a style network's last 9x9 convolution back to three
//! RGB channels wastes most of every tile (30 % of style-256's time at
//! 3.4 GMAC/s). Easel's kernel reads the input where it lies, blocks the
//! output channels (eight on AVX-512) and tiles the pixels, with the
//! accumulators in registers, and reached 60–80 GMAC/s on every stride-1
//! layer of style-256 where tract's product ran 8–25
//! (docs/performance.md). 1x1 kernels stay tract's here (a plain
//! product; a pointwise chain takes them where it can); a transposed
//! convolution's product runs on the same kernel (`deconv.rs`).

use super::conv_op::DirectConv;
use super::{concrete, f32_values};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// Narrowest output row taken: below one AVX-512 tile of 16 the kernel
/// would go column by column.
const MIN_WIDTH: usize = 16;

/// Replaces every convolution it can; how many.
pub fn fuse(model: &mut TypedModel) -> TractResult<usize> {
    super::replace_each(model, find, |model, (id, op)| {
        let node = model.node(id);
        let mut patch = TypedModelPatch::new("easel direct conv");
        let input = patch.tap_model(model, node.inputs[0])?;
        let out = patch.wire_node(format!("{}.easel_conv", node.name), op, &[input])?;
        patch.shunt_outside(model, OutletId::new(id, 0), out[0])?;
        Ok(patch)
    })
}

/// Node `id` as a convolution the direct kernel takes.
fn find(model: &TypedModel, id: usize) -> Option<(usize, DirectConv)> {
    let node = model.node(id);
    let conv = node.op_as::<Conv>()?;
    let spec = &conv.pool_spec;
    if conv.group != 1
        || conv.q_params.is_some()
        || conv.kernel_fmt != KernelFormat::OIHW
        || spec.data_format != DataFormat::NCHW
        || spec.rank() != 2
        || spec.strides().iter().any(|&s| s != 1)
        || spec.dilations().iter().any(|&d| d != 1)
        || node.inputs.len() != 3
    {
        return None;
    }
    let input: [usize; 4] = concrete(model, node.inputs[0])?.try_into().ok()?;
    let [n, cin, h, w] = input;
    let kernel = model.outlet_fact(node.inputs[1]).ok()?.konst.clone()?;
    let &[cout, kcin, kh, kw] = kernel.shape() else {
        return None;
    };
    if kcin != cin || kh * kw < 2 || kh > h || kw > w || w + 1 - kw < MIN_WIDTH || n == 0 {
        return None;
    }
    let padding = spec
        .padding
        .compute(&[h, w], &spec.kernel_shape, &[1, 1], &[1, 1]);
    if padding
        .iter()
        .any(|p| p.pad_before != 0 || p.pad_after != 0)
    {
        return None;
    }
    let values = f32_values(&kernel)?;
    let bias = super::channel_bias(model, node.inputs[2], cout)?;
    let op = DirectConv::new(input, [cout, cin, kh, kw], &values, bias);
    // The graph's output shape is the op's.
    (concrete(model, OutletId::new(id, 0))?.as_slice() == op.output_shape()).then_some((id, op))
}
