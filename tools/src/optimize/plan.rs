//! A tract plan for a package outside the daemon's engine, with the same
//! preparation (`engine::load`: decode, fold constant weights, check, fix
//! shapes) plus what profiling and verification need to choose: the thread
//! count and tract knobs applied while the model is optimized.
//!
//! Also the sample inputs both use: seeded latents, and for image models
//! deterministic pictures with gradients, edges and noise, so every
//! rewrite is checked on varied content rather than on one flat frame.

use anyhow::{Context, ensure};
use easel_engine::package::{ModelKind, ModelPackage};
use easel_engine::picture::RgbImage;
use easel_engine::seed::{Latent, SplitMix64};
use easel_engine::tract::load as tract_load;
use easel_engine::{load, pixels};
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::knobs::KnobScope;
use tract_onnx::tract_core::runtime::RunOptions;

/// The runnable plan type `into_runnable_with_options` returns.
pub type Plan = Arc<TypedRunnableModel>;

/// Run options for `threads` inference threads, as the daemon's worker
/// sets them (tract's `multithread(1)` spreads over every core, so one
/// thread is the single-thread executor).
pub fn run_options(threads: usize) -> RunOptions {
    let executor = if threads <= 1 {
        multithread::Executor::SingleThread
    } else {
        multithread::Executor::multithread_with_name(threads, "easel-optimize")
    };
    RunOptions {
        executor: Some(executor),
        ..RunOptions::default()
    }
}

/// Parses `NAME=VALUE` knob settings (a bare `NAME` means `NAME=1`).
pub fn parse_knobs(knobs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    knobs
        .iter()
        .map(|k| {
            let (name, value) = k.split_once('=').unwrap_or((k.as_str(), "1"));
            ensure!(
                name.starts_with("TRACT_"),
                "knob {k:?}: tract knobs start with TRACT_"
            );
            Ok((name.to_string(), value.to_string()))
        })
        .collect()
}

/// The knobs the package's manifest asks for (`[tract] knobs`).
pub fn manifest_knobs(package: &ModelPackage) -> Vec<(String, String)> {
    package
        .manifest
        .tract
        .iter()
        .flat_map(|t| t.knobs.iter())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The model's graph as the engine prepares it before tract sees it.
pub fn prepared_proto(package: &ModelPackage) -> anyhow::Result<pb::ModelProto> {
    let path = package.onnx_path();
    let bytes = package.read_onnx()?;
    let mut proto = load::decode(&path, &bytes)?;
    tract_load::fold_constant_weights(&mut proto);
    tract_load::check(&path, &proto, &package.manifest)?;
    Ok(proto)
}

/// Optimizes `proto` for the package's fixed input shape with `knobs`
/// in scope (they are read while tract chooses its kernels) and plans it;
/// a CPPN at `cppn_size` `(width, height)` instead of the manifest's
/// (`None`: the manifest's; ignored for other kinds).
pub fn plan_sized(
    package: &ModelPackage,
    proto: &pb::ModelProto,
    threads: usize,
    knobs: &[(String, String)],
    cppn_size: Option<(usize, usize)>,
) -> anyhow::Result<Plan> {
    let scope = KnobScope::new(knobs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .context("tract knobs")?;
    let path = package.onnx_path();
    let size = match (&package.manifest.cppn, package.manifest.kind) {
        (Some(c), ModelKind::Cppn) => {
            Some(cppn_size.unwrap_or((c.size[0] as usize, c.size[1] as usize)))
        }
        _ => None,
    };
    let model = tract_load::fixed_model(&path, proto, &package.manifest, size)?;
    scope.enter(|| {
        // As the engine loads it: easel's fast paths in (or not, as the
        // engine's switch says), then tract's optimizer.
        let typed = model
            .into_typed()
            .and_then(easel_engine::tract::fuse::fast_paths)
            .with_context(|| format!("tract cannot type {}", path.display()))?;
        let optimized = typed
            .into_optimized()
            .with_context(|| format!("tract cannot optimize {}", path.display()))?;
        optimized
            .into_runnable_with_options(&run_options(threads))
            .with_context(|| format!("tract cannot plan {}", path.display()))
    })
}

/// A deterministic test picture for sample `index`: a colour gradient
/// whose direction turns with the index, a checkerboard of varying cell
/// size, and seeded noise.
pub fn test_picture(index: u64, w: usize, h: usize) -> RgbImage {
    let mut rng = SplitMix64::new(index.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xE5E1);
    let cell = 4 + (index % 5) as usize * 6;
    let angle = index as f32 * 0.7;
    let (ca, sa) = (angle.cos(), angle.sin());
    let mut rgb = Vec::with_capacity(3 * w * h);
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
            let g = ((u * ca + v * sa) * 0.5 + 0.5).clamp(0.0, 1.0);
            let check = if (x / cell + y / cell).is_multiple_of(2) {
                0.0
            } else {
                1.0
            };
            for (ch, mix) in [(0, 0.8), (1, 0.4), (2, 0.1)] {
                let noise = rng.next_unit_f32();
                let value =
                    mix * g + (1.0 - mix) * check * 0.6 + 0.4 * noise * (ch as f32 + 1.0) / 3.0;
                rgb.push((value.clamp(0.0, 1.0) * 255.0).round() as u8);
            }
        }
    }
    RgbImage::new(w as u32, h as u32, rgb)
}

/// The main input tensor of sample `index`: the seeded latent for latent
/// and CPPN models, the test picture for image models.
pub fn sample_input(package: &ModelPackage, index: u64) -> anyhow::Result<Tensor> {
    let m = &package.manifest;
    let shape = &m.input.shape;
    let values = match m.kind {
        ModelKind::Image => {
            let range = m.input.range.context("image models have an input range")?;
            let picture = test_picture(index, shape[3], shape[2]);
            pixels::rgb_to_nchw(&picture, shape[3], shape[2], range)
        }
        _ => Latent::from_seed(index, shape.iter().product()).values,
    };
    Tensor::from_shape(shape, &values)
}

/// The plan's inputs for sample `index` (and the CPPN grid).
pub fn sample_inputs(
    package: &ModelPackage,
    plan: &Plan,
    index: u64,
) -> anyhow::Result<TVec<TValue>> {
    let model = plan.model();
    let main = sample_input(package, index)?;
    let mut inputs = TVec::new();
    for outlet in model.input_outlets()? {
        let name = &model.node(outlet.node).name;
        if *name == package.manifest.input.name {
            inputs.push(main.clone().into_tvalue());
        } else {
            let fact = model.outlet_fact(*outlet)?;
            let shape: Vec<usize> = fact
                .shape
                .as_concrete()
                .context("a CPPN grid of fixed size")?
                .to_vec();
            let scale = package.manifest.cppn.as_ref().map_or(1.0, |c| c.scale);
            let grid = pixels::cppn_coords(shape[3], shape[2], scale);
            inputs.push(Tensor::from_shape(&shape, &grid)?.into_tvalue());
        }
    }
    Ok(inputs)
}

/// Runs `plan` on sample `index`; the first output as f32 values.
pub fn run_sample(package: &ModelPackage, plan: &Plan, index: u64) -> anyhow::Result<Vec<f32>> {
    let inputs = sample_inputs(package, plan, index)?;
    let outputs = plan.run(inputs)?;
    let output = outputs[0].cast_to::<f32>()?;
    output
        .try_as_plain_ram()
        .and_then(|view| view.as_slice::<f32>().map(<[f32]>::to_vec))
}
