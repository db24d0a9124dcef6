//! easel's fast paths inside tract (`engine/src/tract/fuse`) against tract
//! alone on the same graph: the reference CPPN fused into one
//! `EaselPointwiseChain`, run over many latents and picture sizes (pixel
//! counts that leave partial tiles, on one thread and on a pool), is
//! within float rounding of the unfused model (1e-4: its sines of
//! wide weights magnify rounding; seen 1.1e-5) — far under one 8-bit level.
//! The numeric tests (`numerics.rs`) check the fused model against
//! onnxruntime's fixtures as well, since the engine fuses at every load.

mod reference;

use easel_engine::pixels::cppn_coords;
use easel_engine::seed::Latent;
use easel_engine::tract::fuse;
use tract_linalg::multithread::{Executor, multithread_tract_scope};
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
    let mut typed = model.into_typed().unwrap().into_decluttered().unwrap();
    let chains = if fused {
        fuse::fuse(&mut typed).unwrap()
    } else {
        0
    };
    let plan = typed.into_optimized().unwrap().into_runnable().unwrap();
    (plan, chains)
}

fn run(plan: &std::sync::Arc<TypedSimplePlan>, w: usize, h: usize, seed: u64) -> Vec<f32> {
    let coords = tract_ndarray::Array4::from_shape_vec((1, 3, h, w), cppn_coords(w, h, 1.0))
        .unwrap()
        .into_tensor();
    let z = tract_ndarray::Array4::from_shape_vec((1, 8, 1, 1), Latent::from_seed(seed, 8).values)
        .unwrap()
        .into_tensor();
    let out = plan.run(tvec![coords.into(), z.into()]).unwrap();
    out[0]
        .try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .to_vec()
}

#[test]
fn the_fused_cppn_is_tract_up_to_rounding() {
    let pool = Executor::multithread(2);
    for (w, h) in [(64, 48), (37, 23), (5, 3), (160, 90), (17, 300)] {
        let (fused, chains) = plan(w, h, true);
        assert_eq!(chains, 1, "{w}x{h}: the whole CPPN is one chain");
        let (plain, _) = plan(w, h, false);
        for seed in [0, 1, 7, 42, 1 << 40, u64::MAX] {
            let want = run(&plain, w, h, seed);
            for executor in [Executor::SingleThread, pool.clone()] {
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
