//! easel's fast paths for style networks (`engine/src/tract/fuse`:
//! `EaselRemap` for nearest up-sampling and reflect/edge padding,
//! `EaselDirectConv` for stride-1 convolutions) against tract alone on the
//! same graphs: the remaps exactly (they only move values), the
//! convolutions within float rounding, over geometries that leave partial
//! tiles and partial channel blocks, on one thread and on a pool; and
//! style-256 whole. `numerics.rs` checks the fused model against
//! onnxruntime's fixtures as well, since the engine fuses at every load.

mod fused;
mod reference;

use fused::{count, executors, op_names, planned, values};

use easel_engine::seed::Latent;
use easel_engine::tract::fuse;
use tract_linalg::multithread::multithread_tract_scope;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{Pad, PadMode};
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;
use tract_onnx::tract_core::ops::nn::resize::{CoordTransformer, Interpolator, Nearest, Resize};

/// `shape` filled from `seed`.
fn random(shape: &[usize], seed: u64) -> Tensor {
    let v = Latent::from_seed(seed, shape.iter().product()).values;
    Tensor::from_shape(shape, &v).unwrap()
}

/// One step of a remap test: what moves the pixels.
#[derive(Clone, Debug)]
enum Move {
    /// tract's `Resize`, nearest, with these `[y, x]` scales.
    Resize(CoordTransformer, Nearest, [f32; 2]),
    /// tract's `Pad` on the spatial axes, `[[top, bottom], [left, right]]`.
    Pad(PadMode, [[usize; 2]; 2]),
}

/// `moves` one after the other on an `[n, c, h, w]` input, decluttered.
fn remap_model(input: [usize; 4], moves: &[Move]) -> TypedModel {
    let mut model = TypedModel::default();
    let mut y = model.add_source("x", f32::fact(input)).unwrap();
    for (i, m) in moves.iter().enumerate() {
        y = match m {
            Move::Resize(coord, nearest, [sy, sx]) => {
                let scales = tensor1(&[1.0f32, 1.0, *sy, *sx]);
                let scales = model.add_const(format!("scales{i}"), scales).unwrap();
                let op = Resize {
                    coord_transformer: coord.clone(),
                    interpolator: Interpolator::Nearest,
                    nearest: *nearest,
                    optional_scales_input: Some(1),
                    optional_sizes_input: None,
                };
                model.wire_node(format!("resize{i}"), op, &[y, scales])
            }
            Move::Pad(mode, [py, px]) => {
                let op = Pad {
                    pads: vec![(0, 0), (0, 0), (py[0], py[1]), (px[0], px[1])],
                    mode: mode.clone(),
                };
                model.wire_node(format!("pad{i}"), op, &[y])
            }
        }
        .unwrap()[0];
    }
    model.select_output_outlets(&[y]).unwrap();
    model.into_decluttered().unwrap()
}

#[test]
fn up_sampling_and_padding_move_pixels_as_tract_does() {
    use CoordTransformer::*;
    let reflect = |p| Move::Pad(PadMode::Reflect, p);
    let edge = |p| Move::Pad(PadMode::Edge, p);
    let resize = |c, n, s| Move::Resize(c, n, s);
    let cases: Vec<([usize; 4], Vec<Move>)> = vec![
        // A style network's decoder: up-sampling x2 (ONNX's default
        // half-pixel coordinates, floor) and the reflection around its
        // 3x3 convolution.
        (
            [1, 4, 6, 5],
            vec![
                resize(HalfPixel, Nearest::Floor, [2.0, 2.0]),
                reflect([[1, 1], [1, 1]]),
            ],
        ),
        // The 9x9 convolution's reflection, alone.
        ([1, 3, 11, 10], vec![reflect([[4, 4], [4, 4]])]),
        // Pixel replication (tract lowers it to NearestUpsample), x3 by x2.
        (
            [2, 3, 4, 7],
            vec![resize(Asymmetric, Nearest::Floor, [3.0, 2.0])],
        ),
        (
            [1, 2, 5, 3],
            vec![
                resize(AlignCorners, Nearest::RoundPreferCeil, [2.0, 3.0]),
                edge([[0, 3], [2, 0]]),
            ],
        ),
        (
            [2, 2, 7, 9],
            vec![
                resize(PytorchHalfPixel, Nearest::RoundPreferCeil, [1.5, 2.5]),
                reflect([[2, 0], [0, 3]]),
                edge([[1, 1], [0, 2]]),
            ],
        ),
        (
            [1, 1, 3, 8],
            vec![
                reflect([[2, 2], [1, 7]]),
                resize(TfHalfPixelForNn, Nearest::Floor, [2.0, 1.0]),
            ],
        ),
    ];
    let executors = executors();
    for (n, (input, moves)) in cases.iter().enumerate() {
        let (fused, replaced) = planned(remap_model(*input, moves), true);
        assert_eq!(replaced, 1, "{moves:?}: one op for the whole run");
        let names = op_names(&fused);
        assert_eq!(count(&names, "EaselRemap"), 1, "{names:?}");
        assert!(
            !names
                .iter()
                .any(|n| ["Resize", "NearestUpsample", "Pad"].contains(&n.as_str())),
            "{names:?}"
        );
        let (plain, _) = planned(remap_model(*input, moves), false);
        let x = random(input, n as u64);
        let want = values(plain.run(tvec![x.clone().into()]).unwrap());
        for executor in executors.iter().cloned() {
            let got = multithread_tract_scope(executor, || {
                values(fused.run(tvec![x.clone().into()]).unwrap())
            });
            assert_eq!(got, want, "{input:?} {moves:?}: a copy is exact");
        }
    }
    // What stays tract's: constant padding, padding of the channels, a
    // reflection wider than its axis.
    for (input, moves) in [
        (
            [1, 2, 4, 4],
            vec![Move::Pad(
                PadMode::Constant(std::sync::Arc::new(tensor0(0.5f32))),
                [[1, 1], [1, 1]],
            )],
        ),
        ([1, 2, 3, 4], vec![reflect([[3, 0], [0, 0]])]),
    ] {
        let mut model = remap_model(input, &moves);
        assert_eq!(fuse::fuse(&mut model).unwrap(), 0, "{moves:?}");
    }
}

/// A convolution of `geometry` with a bias, weights from `seed`,
/// decluttered.
fn conv_model(g: &ConvGeometry, seed: u64) -> TypedModel {
    let [h, w] = g.hw;
    let mut model = TypedModel::default();
    let x = model
        .add_source("x", f32::fact([g.images, g.cin, h, w]))
        .unwrap();
    let k = random(&[g.cout, g.cin, g.kernel[0], g.kernel[1]], seed);
    let k = model.add_const("k", k).unwrap();
    let b = model.add_const("b", random(&[g.cout], seed + 1)).unwrap();
    let op = Conv {
        pool_spec: PoolSpec::new(
            DataFormat::NCHW,
            g.kernel[..].into(),
            PaddingSpec::Explicit(g.pads[..].into(), g.pads[..].into()),
            None,
            Some(g.strides[..].into()),
            g.cin,
            g.cout,
        ),
        kernel_fmt: KernelFormat::OIHW,
        group: 1,
        q_params: None,
    };
    let y = model.wire_node("conv", op, &[x, k, b]).unwrap()[0];
    model.select_output_outlets(&[y]).unwrap();
    model.into_decluttered().unwrap()
}

#[derive(Clone, Copy, Debug)]
struct ConvGeometry {
    images: usize,
    cin: usize,
    cout: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    /// `[y, x]`, before and after alike.
    pads: [usize; 2],
}

#[test]
fn convolutions_of_any_geometry_compute_as_tract_does() {
    let style = ConvGeometry {
        images: 1,
        cin: 6,
        cout: 7,
        hw: [12, 70],
        kernel: [3, 3],
        strides: [1, 1],
        pads: [0, 0],
    };
    let taken = [
        // Blocks of 4 + 3 channels; a 64-pixel tile and six single columns.
        style,
        // The RGB head: 9x9 to three channels, a 16-pixel tile left over.
        ConvGeometry {
            cin: 4,
            cout: 3,
            hw: [10, 24 + 8],
            kernel: [9, 9],
            ..style
        },
        // Two images; nine channels (4 + 4 + 1); rows of 83 - 1 pixels.
        ConvGeometry {
            images: 2,
            cin: 3,
            cout: 9,
            hw: [5, 83],
            kernel: [1, 2],
            ..style
        },
        // One output channel, a tall kernel, exactly one 16-pixel row.
        ConvGeometry {
            cin: 1,
            cout: 1,
            hw: [9, 16],
            kernel: [5, 1],
            ..style
        },
        // More rows than one band of eight, channels in whole blocks.
        ConvGeometry {
            cin: 2,
            cout: 8,
            hw: [21, 131],
            kernel: [2, 4],
            ..style
        },
    ];
    let executors = executors();
    for (n, g) in taken.iter().enumerate() {
        let (fused, replaced) = planned(conv_model(g, n as u64), true);
        assert_eq!(replaced, 1, "{g:?}");
        assert_eq!(count(&op_names(&fused), "EaselDirectConv"), 1, "{g:?}");
        let (plain, _) = planned(conv_model(g, n as u64), false);
        let [h, w] = g.hw;
        let x = random(&[g.images, g.cin, h, w], 100 + n as u64);
        let want = values(plain.run(tvec![x.clone().into()]).unwrap());
        for executor in executors.iter().cloned() {
            let got = multithread_tract_scope(executor, || {
                values(fused.run(tvec![x.clone().into()]).unwrap())
            });
            assert_eq!(got.len(), want.len(), "{g:?}");
            let diff = reference::max_abs_diff(&got, &want);
            assert!(diff < 1e-4, "{g:?}: {diff} apart");
        }
    }
    // What stays tract's: strides, padding of its own, a 1x1 kernel, rows
    // narrower than one 16-pixel tile.
    for g in [
        ConvGeometry {
            strides: [2, 2],
            ..style
        },
        ConvGeometry {
            pads: [1, 1],
            ..style
        },
        ConvGeometry {
            kernel: [1, 1],
            ..style
        },
        ConvGeometry {
            hw: [12, 17],
            ..style
        },
    ] {
        let mut model = conv_model(&g, 0);
        assert_eq!(fuse::fuse(&mut model).unwrap(), 0, "{g:?}");
    }
}

/// style-256 typed and decluttered, fused or not, then optimized.
fn style(fused: bool) -> (std::sync::Arc<TypedSimplePlan>, usize) {
    let path = reference::model_dir("style-256").join("model.onnx");
    let model = tract_onnx::onnx().model_for_path(path).unwrap();
    planned(
        model.into_typed().unwrap().into_decluttered().unwrap(),
        fused,
    )
}

#[test]
fn the_fused_style_network_is_tract_up_to_rounding() {
    let (fused, replaced) = style(true);
    let names = op_names(&fused);
    // Sixteen paddings (two after an up-sampling) and the fourteen
    // stride-1 convolutions; the two stride-2 ones stay tract's.
    assert_eq!(count(&names, "EaselRemap"), 16, "{names:?}");
    assert_eq!(count(&names, "EaselDirectConv"), 14, "{names:?}");
    assert_eq!(replaced, 30);
    assert!(
        !names.iter().any(|n| n == "Resize" || n == "Pad"),
        "{names:?}"
    );
    let (plain, _) = style(false);
    let executors = executors();
    for seed in [3, 11] {
        // A picture's values, 0..255.
        let shape = [1, 3, 256, 256];
        let v = Latent::from_seed(seed, 3 * 256 * 256).values;
        let v: Vec<f32> = v
            .iter()
            .map(|v| ((v + 3.0) * 40.0).clamp(0.0, 255.0))
            .collect();
        let x = Tensor::from_shape(&shape, &v).unwrap();
        let want = values(plain.run(tvec![x.clone().into()]).unwrap());
        for executor in executors.iter().cloned() {
            let got = multithread_tract_scope(executor, || {
                values(fused.run(tvec![x.clone().into()]).unwrap())
            });
            let diff = reference::max_abs_diff(&got, &want);
            // The output is [-1, 1]: one 8-bit level is 2/255.
            assert!(diff < 1e-4, "seed {seed}: {diff} apart");
        }
    }
}
