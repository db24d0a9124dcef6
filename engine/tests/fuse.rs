//! easel's fast paths inside tract (`engine/src/tract/fuse`) against tract
//! alone on the same graph: the reference CPPN fused into one
//! `EaselPointwiseChain`, run over many latents and picture sizes (pixel
//! counts that leave partial tiles, on one thread and on a pool), is
//! within float rounding of the unfused model (1e-4: its sines of
//! wide weights magnify rounding; seen 1.1e-5) — far under one 8-bit level.
//! The numeric tests (`numerics.rs`) check the fused model against
//! onnxruntime's fixtures as well, since the engine fuses at every load.

mod fused;
mod reference;

use fused::{executors, op_names, optimized, values};

use easel_engine::pixels::cppn_coords;
use easel_engine::seed::Latent;
use easel_engine::tract::fuse;
use tract_linalg::multithread::multithread_tract_scope;
use tract_onnx::prelude::*;

/// The reference CPPN typed and decluttered at `w` x `h`, fused or not,
/// then optimized as the engine does.
fn plan(w: usize, h: usize, fused: bool) -> (std::sync::Arc<TypedSimplePlan>, usize) {
    let path = reference::model_dir("cppn-aurora").join("model.onnx");
    let mut model = tract_onnx::onnx().model_for_path(path).unwrap();
    model
        .set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), [1, 3, h, w]))
        .unwrap();
    model
        .set_input_fact(1, InferenceFact::dt_shape(f32::datum_type(), [1, 8, 1, 1]))
        .unwrap();
    optimized(model, fused)
}

fn run(plan: &std::sync::Arc<TypedSimplePlan>, w: usize, h: usize, seed: u64) -> Vec<f32> {
    let coords = tract_ndarray::Array4::from_shape_vec((1, 3, h, w), cppn_coords(w, h, 1.0))
        .unwrap()
        .into_tensor();
    let z = tract_ndarray::Array4::from_shape_vec((1, 8, 1, 1), Latent::from_seed(seed, 8).values)
        .unwrap()
        .into_tensor();
    values(plan.run(tvec![coords.into(), z.into()]).unwrap())
}

#[test]
fn the_fused_cppn_is_tract_up_to_rounding() {
    let executors = executors();
    for (w, h) in [(64, 48), (37, 23), (5, 3), (160, 90), (17, 300)] {
        let (fused, chains) = plan(w, h, true);
        assert_eq!(chains, 1, "{w}x{h}: the whole CPPN is one chain");
        let (plain, _) = plan(w, h, false);
        for seed in [0, 1, 7, 42, 1 << 40, u64::MAX] {
            let want = run(&plain, w, h, seed);
            for executor in executors.iter().cloned() {
                let got = multithread_tract_scope(executor, || run(&fused, w, h, seed));
                let diff = reference::max_abs_diff(&got, &want);
                // One 8-bit level is 1/255 of the [0, 1] output.
                assert!(
                    diff < 1e-4,
                    "{w}x{h} seed {seed}: {diff} apart (one level is {})",
                    1.0 / 255.0
                );
            }
        }
    }
}

/// dcgan-64 typed and decluttered, fused or not, then optimized.
fn dcgan(fused: bool) -> (std::sync::Arc<TypedSimplePlan>, usize) {
    let path = reference::model_dir("dcgan-64").join("model.onnx");
    optimized(tract_onnx::onnx().model_for_path(path).unwrap(), fused)
}

#[test]
fn the_fused_dcgan_is_tract_up_to_rounding() {
    let (fused, replaced) = dcgan(true);
    assert_eq!(replaced, 5, "each of the five ConvTranspose layers");
    let names = op_names(&fused);
    assert_eq!(names.iter().filter(|n| *n == "EaselDeconvSum").count(), 5);
    assert!(!names.iter().any(|n| n == "DeconvSum"), "{names:?}");
    // The products of the four layers past the 1x1 latent on easel's kernel.
    assert_eq!(
        names.iter().filter(|n| *n == "EaselDirectConv").count(),
        4,
        "{names:?}"
    );
    // BatchNorm and ReLU went into the sums: no binary chain is left.
    assert!(
        !names.iter().any(|n| n.starts_with("OptBinChain")),
        "{names:?}"
    );
    let (plain, _) = dcgan(false);
    let executors = executors();
    for seed in [0, 1, 7, 42, 1 << 40, u64::MAX] {
        let z = tract_ndarray::Array4::from_shape_vec(
            (1, 100, 1, 1),
            Latent::from_seed(seed, 100).values,
        )
        .unwrap()
        .into_tensor();
        let want = values(plain.run(tvec![z.clone().into()]).unwrap());
        for executor in executors.iter().cloned() {
            let got = multithread_tract_scope(executor, || {
                values(fused.run(tvec![z.clone().into()]).unwrap())
            });
            let diff = reference::max_abs_diff(&got, &want);
            // The output is [-1, 1]: one 8-bit level is 2/255.
            assert!(diff < 1e-4, "seed {seed}: {diff} apart");
        }
    }
}

/// A transposed convolution of `geometry` on an `[images, cin, h, w]` input,
/// with a bias, then (when `finish`) a per-channel scale and shift and a
/// ReLU, weights from `seed`.
fn deconv_model(geometry: &Geometry, finish: bool, seed: u64) -> TypedModel {
    use tract_onnx::tract_core::ops::cnn::{Deconv, KernelFormat, PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::math;
    use tract_onnx::tract_core::ops::nn::DataFormat;
    let Geometry {
        images,
        cin,
        cout,
        hw: [h, w],
        kernel,
        strides,
        dilations,
        pads,
        adjustments,
    } = *geometry;
    let mut rng = Latent::from_seed(seed, 1 << 14).values.into_iter().cycle();
    let mut random = |shape: &[usize]| {
        let n = shape.iter().product();
        let v: Vec<f32> = (&mut rng).take(n).collect();
        Tensor::from_shape(shape, &v).unwrap()
    };
    let mut model = TypedModel::default();
    let x = model
        .add_source("x", f32::fact([images, cin, h, w]))
        .unwrap();
    let k = model
        .add_const("k", random(&[cout, cin, kernel[0], kernel[1]]))
        .unwrap();
    let b = model.add_const("b", random(&[cout])).unwrap();
    let spec = PoolSpec::new(
        DataFormat::NCHW,
        kernel[..].into(),
        PaddingSpec::Explicit(pads[0][..].into(), pads[1][..].into()),
        Some(dilations[..].into()),
        Some(strides[..].into()),
        cin,
        cout,
    );
    let op = Deconv::new(spec, KernelFormat::OIHW, adjustments[..].into(), 1);
    let mut y = model.wire_node("deconv", op, &[x, k, b]).unwrap()[0];
    if finish {
        let scale = model.add_const("scale", random(&[1, cout, 1, 1])).unwrap();
        let shift = model.add_const("shift", random(&[1, cout, 1, 1])).unwrap();
        let zero = Tensor::from_shape(&[1, 1, 1, 1], &[0f32]).unwrap();
        let zero = model.add_const("zero", zero).unwrap();
        y = model.wire_node("mul", math::mul(), &[y, scale]).unwrap()[0];
        y = model.wire_node("add", math::add(), &[shift, y]).unwrap()[0];
        y = model.wire_node("relu", math::max(), &[y, zero]).unwrap()[0];
    }
    model.select_output_outlets(&[y]).unwrap();
    model.into_decluttered().unwrap()
}

#[derive(Clone, Copy, Debug)]
struct Geometry {
    /// The batch.
    images: usize,
    cin: usize,
    cout: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    /// `[before, after]`, each `[y, x]`.
    pads: [[usize; 2]; 2],
    adjustments: [usize; 2],
}

#[test]
fn transposed_convolutions_of_any_geometry_sum_as_tract_does() {
    let dcgan = Geometry {
        images: 1,
        cin: 8,
        cout: 5,
        hw: [4, 4],
        kernel: [4, 4],
        strides: [2, 2],
        dilations: [1, 1],
        pads: [[1, 1], [1, 1]],
        adjustments: [0, 0],
    };
    let geometries = [
        dcgan,
        Geometry {
            hw: [1, 1],
            strides: [1, 1],
            pads: [[0, 0], [0, 0]],
            ..dcgan
        },
        Geometry {
            cin: 3,
            cout: 7,
            hw: [5, 7],
            kernel: [3, 3],
            strides: [1, 1],
            pads: [[1, 1], [1, 1]],
            ..dcgan
        },
        Geometry {
            hw: [6, 3],
            kernel: [3, 3],
            strides: [3, 3],
            pads: [[0, 0], [0, 0]],
            ..dcgan
        },
        Geometry { images: 3, ..dcgan },
        Geometry {
            images: 2,
            cin: 4,
            cout: 3,
            hw: [9, 5],
            kernel: [2, 3],
            strides: [2, 1],
            dilations: [2, 3],
            pads: [[0, 2], [1, 0]],
            adjustments: [1, 0],
        },
        Geometry {
            cin: 2,
            cout: 1,
            hw: [17, 3],
            kernel: [5, 1],
            strides: [3, 2],
            pads: [[4, 0], [0, 3]],
            adjustments: [2, 1],
            ..dcgan
        },
    ];
    for (n, geometry) in geometries.iter().enumerate() {
        for finish in [false, true] {
            let [h, w] = geometry.hw;
            let shape = [geometry.images, geometry.cin, h, w];
            let input = Latent::from_seed(n as u64 + 100, shape.iter().product()).values;
            let x = Tensor::from_shape(&shape, &input).unwrap();
            let mut fused = deconv_model(geometry, finish, n as u64);
            assert_eq!(fuse::fuse(&mut fused).unwrap(), 1, "{geometry:?}");
            let fused = fused.into_optimized().unwrap().into_runnable().unwrap();
            assert!(op_names(&fused).iter().any(|n| n == "EaselDeconvSum"));
            // The product on easel's kernel from 16 columns (images x
            // pixels), tract's below.
            assert_eq!(
                op_names(&fused).iter().any(|n| n == "EaselDirectConv"),
                geometry.images * h * w >= 16,
                "{geometry:?}"
            );
            // The reference: tract alone, one image at a time (so the
            // batch's images are checked to stay independent too).
            let one = Geometry {
                images: 1,
                ..*geometry
            };
            let plain = deconv_model(&one, finish, n as u64)
                .into_optimized()
                .unwrap()
                .into_runnable()
                .unwrap();
            let per_image = input.len() / geometry.images;
            let want: Vec<f32> = input
                .chunks(per_image)
                .flat_map(|image| {
                    let x = Tensor::from_shape(&[1, geometry.cin, h, w], image).unwrap();
                    values(plain.run(tvec![x.into()]).unwrap())
                })
                .collect();
            let got = values(fused.run(tvec![x.into()]).unwrap());
            assert_eq!(got.len(), want.len(), "{geometry:?}");
            let diff = reference::max_abs_diff(&got, &want);
            assert!(diff < 1e-4, "{geometry:?} finish {finish}: {diff} apart");
            if finish {
                assert!(got.iter().all(|&v| v >= 0.0), "the ReLU is applied");
            }
        }
    }
}
