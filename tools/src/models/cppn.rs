//! `easel model cppn`: a compositional pattern-producing network.
//!
//! Every pixel's colour is a function of its coordinates (x, y, r = |(x, y)|)
//! and a small latent z: 1×1 convolutions over a `[1, 3, H, W]` grid, so the
//! same weights draw the same picture at any resolution, and z (from the
//! seed) varies it smoothly. The classic kind (Stanley's CPPNs, the
//! Picbreeder look): a sine layer on the coordinates (bands, and rings
//! from r), a Gaussian `exp(-x²)` layer (symmetric folds), another sine,
//! then tanh and a sigmoid to colour. Narrow (16 units), so the patterns
//! stay crisp instead of averaging into haze. Untrained by design: a CPPN
//! with random weights is already a picture generator.
//!
//! tract evaluates `Sin` element by element; the engine's fused chain
//! (`easel_engine::tract::fuse`) runs the whole network, sines included,
//! in its own vectorised kernel.

use super::Built;
use super::graph::{Attr, GraphBuilder};
use easel_engine::package::{CppnSpec, InputSpec, Layout, ModelKind, OutputSpec};

/// Latent size: enough variety per seed, small enough to morph smoothly.
pub const LATENT: usize = 8;
const HIDDEN: usize = 16;

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

/// `exp(-x²)`, written as ONNX has it: `Exp(Neg(Mul(x, x)))`.
fn gaussian(g: &mut GraphBuilder, x: &str) -> String {
    let square = g.op("Mul", &[x, x]);
    let negative = g.op("Neg", &[&square]);
    g.op("Exp", &[&negative])
}

pub fn build(seed: u64) -> Built {
    let mut g = GraphBuilder::new("cppn", seed);
    let coords = g.input("coords", &[1, 3, 0, 0]);
    let z = g.input("z", &[1, LATENT, 1, 1]);
    // First layer: coordinates and latent each through their own weights,
    // summed with broadcasting (z is one value per channel for all pixels).
    let from_coords = dense(&mut g, &coords, 3, HIDDEN, 2.0);
    let from_z = dense(&mut g, &z, LATENT, HIDDEN, 0.4);
    let bias = g.random_weight("b", &[1, HIDDEN, 1, 1], 0.0, 0.5);
    let sum = g.op("Add", &[&from_coords, &from_z]);
    let sum = g.op("Add", &[&sum, &bias]);
    let h = g.op("Sin", &[&sum]);
    let pre = dense(&mut g, &h, HIDDEN, HIDDEN, 0.3);
    let h = gaussian(&mut g, &pre);
    let pre = dense(&mut g, &h, HIDDEN, HIDDEN, 0.5);
    let h = g.op("Sin", &[&pre]);
    let pre = dense(&mut g, &h, HIDDEN, HIDDEN, 0.3);
    let h = g.op("Tanh", &[&pre]);
    let rgb = dense(&mut g, &h, HIDDEN, 3, 1.0);
    let bias = g.weight("b", &[1, 3, 1, 1], vec![-0.3, 0.0, 0.2]);
    let rgb = g.op("Add", &[&rgb, &bias]);
    let rgb = g.op("Sigmoid", &[&rgb]);
    g.output(&rgb, "image", &[1, 3, 0, 0]);
    Built {
        onnx: g.finish("easel reference CPPN: coordinates + latent -> colour, any resolution"),
        kind: ModelKind::Cppn,
        description: format!(
            "classic CPPN (sine, Gaussian, tanh) with seeded random weights (weight seed {seed}): bands, rings and folds at any resolution"
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
