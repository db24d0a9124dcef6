//! `easel model dcgan`: the DCGAN generator architecture (Radford et al.
//! 2015) for 64×64 pictures from a 100-d latent: ConvTranspose layers
//! 100 -> 512 -> 256 -> 128 -> 64 -> 3, BatchNorm + ReLU between, Tanh out.
//!
//! Seeded, untrained weights: this model exists for operator coverage and
//! speed work, shaped exactly like the generators artists export from
//! PyTorch. Weights are scaled (He-style, per the transposed convolution's
//! effective fan-in) so activations neither vanish nor saturate and the
//! output spans the tanh range.

use super::Built;
use super::graph::{Attr, GraphBuilder};
use easel_engine::package::{InputSpec, Layout, ModelKind, OutputSpec};

pub const LATENT: usize = 100;
const CHANNELS: [usize; 5] = [512, 256, 128, 64, 3];

fn conv_transpose(g: &mut GraphBuilder, x: &str, cin: usize, cout: usize, first: bool) -> String {
    // A stride-2, 4×4 transposed convolution feeds each output from
    // cin × 4 taps; the first (stride 1 on a 1×1 input) from cin × 1.
    let fan_in = if first { cin } else { cin * 4 };
    let gain = if cout == 3 { 1.0 } else { 2.0 };
    let w = g.random_weight("w", &[cin, cout, 4, 4], 0.0, (gain / fan_in as f32).sqrt());
    let (stride, pad) = if first { (1, 0) } else { (2, 1) };
    g.node(
        "ConvTranspose",
        &[x, &w],
        vec![
            ("kernel_shape", Attr::Ints(vec![4, 4])),
            ("strides", Attr::Ints(vec![stride, stride])),
            ("pads", Attr::Ints(vec![pad; 4])),
        ],
        None,
    )
}

fn batch_norm(g: &mut GraphBuilder, x: &str, c: usize) -> String {
    let scale = g.random_weight("gamma", &[c], 1.0, 0.1);
    let bias = g.random_weight("beta", &[c], 0.0, 0.1);
    let mean = g.random_weight("mean", &[c], 0.0, 0.1);
    let var = g
        .normal(c, 1.0, 0.1)
        .into_iter()
        .map(|v| v.abs().max(0.2))
        .collect();
    let var = g.weight("var", &[c], var);
    g.node(
        "BatchNormalization",
        &[x, &scale, &bias, &mean, &var],
        vec![("epsilon", Attr::Float(1e-5))],
        None,
    )
}

pub fn build(seed: u64) -> Built {
    let mut g = GraphBuilder::new("dcgan", seed);
    let mut x = g.input("z", &[1, LATENT, 1, 1]);
    let mut cin = LATENT;
    for (i, &cout) in CHANNELS.iter().enumerate() {
        x = conv_transpose(&mut g, &x, cin, cout, i == 0);
        if cout != 3 {
            x = batch_norm(&mut g, &x, cout);
            x = g.op("Relu", &[&x]);
        }
        cin = cout;
    }
    let image = g.op("Tanh", &[&x]);
    g.output(&image, "image", &[1, 3, 64, 64]);
    Built {
        onnx: g.finish("easel reference DCGAN generator (untrained, seeded weights)"),
        kind: ModelKind::Latent,
        description: format!(
            "DCGAN-architecture generator, 100-d latent -> 64x64, untrained seeded weights (weight seed {seed}); for operator coverage and speed work"
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
            range: [-1.0, 1.0],
        },
        cppn: None,
    }
}
