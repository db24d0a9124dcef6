//! `easel model cppn`: a compositional pattern-producing network.
//!
//! Every pixel's colour is a function of its coordinates (x, y, r = |(x, y)|)
//! and a small latent z: 1×1 convolutions over a `[1, 3, H, W]` grid, so the
//! same weights draw the same picture at any resolution, and z (from the
//! seed) varies it smoothly. Tanh layers alternate narrow and wide weights:
//! soft bands folded into ripples, the "aurora" look. Untrained by
//! design: a CPPN with random weights is already a picture generator.

use super::Built;
use super::graph::{Attr, GraphBuilder};
use easel_engine::package::{CppnSpec, InputSpec, Layout, ModelKind, OutputSpec};

/// Latent size: enough variety per seed, small enough to morph smoothly.
pub const LATENT: usize = 8;
const HIDDEN: usize = 32;

/// A 1×1 convolution `cin -> cout` with weights N(0, std²) and no bias.
fn dense(g: &mut GraphBuilder, x: &str, cin: usize, cout: usize, std: f32) -> String {
    let w = g.random_weight("w", &[cout, cin, 1, 1], 0.0, std);
    g.node(
        "Conv",
        &[x, &w],
        vec![("kernel_shape", Attr::Ints(vec![1, 1]))],
        None,
    )
}

pub fn build(seed: u64) -> Built {
    let mut g = GraphBuilder::new("cppn", seed);
    let coords = g.input("coords", &[1, 3, 0, 0]);
    let z = g.input("z", &[1, LATENT, 1, 1]);
    // First layer: coordinates and latent each through their own weights,
    // summed with broadcasting (z is one value per channel for all pixels).
    let from_coords = dense(&mut g, &coords, 3, HIDDEN, 0.9);
    let from_z = dense(&mut g, &z, LATENT, HIDDEN, 0.35);
    let bias = g.random_weight("b", &[1, HIDDEN, 1, 1], 0.0, 0.5);
    let sum = g.op("Add", &[&from_coords, &from_z]);
    let sum = g.op("Add", &[&sum, &bias]);
    let mut h = g.op("Tanh", &[&sum]);
    // tanh only: tract 0.23 evaluates Sin/Cos element by element (about
    // 8x slower than its vectorised tanh), which made the default model
    // crawl; wider weights on alternate layers give the folds sin gave.
    for i in 0..4 {
        let std = if i % 2 == 0 { 0.9 } else { 0.4 };
        let pre = dense(&mut g, &h, HIDDEN, HIDDEN, std);
        h = g.op("Tanh", &[&pre]);
    }
    let rgb = dense(&mut g, &h, HIDDEN, 3, 0.45);
    let bias = g.weight("b", &[1, 3, 1, 1], vec![-0.6, 0.2, 0.1]);
    let rgb = g.op("Add", &[&rgb, &bias]);
    let rgb = g.op("Sigmoid", &[&rgb]);
    g.output(&rgb, "image", &[1, 3, 0, 0]);
    Built {
        onnx: g.finish("easel reference CPPN: coordinates + latent -> colour, any resolution"),
        kind: ModelKind::Cppn,
        description: format!(
            "CPPN with seeded random weights (weight seed {seed}): abstract colour fields at any resolution"
        ),
        input: InputSpec {
            name: "z".into(),
            shape: vec![1, LATENT, 1, 1],
            range: None,
            fit: Default::default(),
        },
        output: OutputSpec {
            name: "image".into(),
            layout: Layout::Nchw,
            range: [0.0, 1.0],
        },
        cppn: Some(CppnSpec {
            coords: "coords".into(),
            size: [512, 512],
            scale: 1.0,
        }),
    }
}
