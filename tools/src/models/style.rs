//! `easel model style`: the fast style transfer architecture (Johnson et
//! al. 2016) as artists export it: reflection padding, a 9×9 convolution,
//! two stride-2 convolutions, five residual blocks, two nearest-neighbour
//! ×2 resizes each followed by a 3×3 convolution, a final 9×9 convolution;
//! instance normalisation and ReLU between. 256×256 in and out, or any
//! multiple of 4 (`easel model style --size 512`).
//!
//! Seeded, untrained weights: it re-paints a picture into coloured
//! texture, which is what operator coverage and speed work need.

use super::Built;
use super::graph::{Attr, GraphBuilder};
use easel_engine::package::{InputSpec, Layout, ModelKind, OutputSpec};

pub const SIZE: usize = 256;

/// Reflection padding then a convolution; `std` from the fan-in.
fn conv(g: &mut GraphBuilder, x: &str, cin: usize, cout: usize, k: usize, stride: i64) -> String {
    let pad = (k / 2) as i64;
    let pads = g.int64s("pads", &[0, 0, pad, pad, 0, 0, pad, pad]);
    let padded = g.node(
        "Pad",
        &[x, &pads],
        vec![("mode", Attr::Str("reflect"))],
        None,
    );
    let w = g.random_weight(
        "w",
        &[cout, cin, k, k],
        0.0,
        (2.0 / (cin * k * k) as f32).sqrt(),
    );
    let b = g.random_weight("b", &[cout], 0.0, 0.05);
    g.node(
        "Conv",
        &[&padded, &w, &b],
        vec![
            ("kernel_shape", Attr::Ints(vec![k as i64, k as i64])),
            ("strides", Attr::Ints(vec![stride, stride])),
        ],
        None,
    )
}

fn instance_norm(g: &mut GraphBuilder, x: &str, c: usize) -> String {
    let scale = g.random_weight("in_scale", &[c], 1.0, 0.1);
    let bias = g.random_weight("in_bias", &[c], 0.0, 0.1);
    g.node(
        "InstanceNormalization",
        &[x, &scale, &bias],
        vec![("epsilon", Attr::Float(1e-5))],
        None,
    )
}

fn conv_in_relu(
    g: &mut GraphBuilder,
    x: &str,
    cin: usize,
    cout: usize,
    k: usize,
    stride: i64,
) -> String {
    let x = conv(g, x, cin, cout, k, stride);
    let x = instance_norm(g, &x, cout);
    g.op("Relu", &[&x])
}

fn residual(g: &mut GraphBuilder, x: &str, c: usize) -> String {
    let y = conv_in_relu(g, x, c, c, 3, 1);
    let y = conv(g, &y, c, c, 3, 1);
    let y = instance_norm(g, &y, c);
    g.op("Add", &[x, &y])
}

fn upsample(g: &mut GraphBuilder, x: &str) -> String {
    let scales = g.weight("scales", &[4], vec![1.0, 1.0, 2.0, 2.0]);
    g.node(
        "Resize",
        &[x, "", &scales],
        vec![
            ("mode", Attr::Str("nearest")),
            ("nearest_mode", Attr::Str("floor")),
        ],
        None,
    )
}

pub fn build(seed: u64) -> Built {
    build_sized(seed, SIZE)
}

/// The same network (same weights for the same seed) at `size`×`size`, a
/// multiple of 4 (two stride-2 convolutions, two ×2 resizes).
pub fn build_sized(seed: u64, size: usize) -> Built {
    assert!(
        size >= 4 && size.is_multiple_of(4),
        "style size must be a multiple of 4"
    );
    let mut g = GraphBuilder::new("style", seed);
    let input = g.input("input", &[1, 3, size, size]);
    // Inputs arrive in 0..255; bring them to roughly unit scale first.
    let inv = g.weight("inv255", &[1], vec![1.0 / 127.5]);
    let one = g.weight("one", &[1], vec![1.0]);
    let x = g.op("Mul", &[&input, &inv]);
    let x = g.op("Sub", &[&x, &one]);
    let mut x = conv_in_relu(&mut g, &x, 3, 32, 9, 1);
    x = conv_in_relu(&mut g, &x, 32, 64, 3, 2);
    x = conv_in_relu(&mut g, &x, 64, 128, 3, 2);
    for _ in 0..5 {
        x = residual(&mut g, &x, 128);
    }
    x = upsample(&mut g, &x);
    x = conv_in_relu(&mut g, &x, 128, 64, 3, 1);
    x = upsample(&mut g, &x);
    x = conv_in_relu(&mut g, &x, 64, 32, 3, 1);
    x = conv(&mut g, &x, 32, 3, 9, 1);
    let image = g.op("Tanh", &[&x]);
    g.output(&image, "image", &[1, 3, size, size]);
    Built {
        onnx: g.finish("easel reference fast-style-transfer network (untrained, seeded weights)"),
        kind: ModelKind::Image,
        description: format!(
            "fast style transfer architecture, {size}x{size}, untrained seeded weights (weight seed {seed}); for operator coverage and speed work"
        ),
        input: InputSpec {
            name: "input".into(),
            shape: vec![1, 3, size, size],
            range: Some([0.0, 255.0]),
            fit: Default::default(),
        },
        output: OutputSpec {
            name: "image".into(),
            layout: Layout::Nchw,
            range: [-1.0, 1.0],
        },
        cppn: None,
    }
}
