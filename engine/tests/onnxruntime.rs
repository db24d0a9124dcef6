//! The onnxruntime engine against the same independent reference as
//! tract (`numerics.rs`): every reference model's fixture cases, single
//! pictures at one and two threads, frames in batches on lanes and in a
//! stream; the provider fallback; a manifest that names onnxruntime.
//!
//! The library is found as easeld finds it (no `ORT_DYLIB_PATH` and no
//! `[onnxruntime] library`: the `onnxruntime` Python package, which CI
//! installs, else the system's). One library per process: the tests
//! that need onnxruntime to be missing run in their own binary
//! (`onnxruntime_missing.rs`) and in easeld (daemon/tests).

mod reference;

use easel_engine::engines::Engines;
use easel_engine::onnxruntime::{self, Runtime};
use easel_engine::package::{MANIFEST, ModelPackage};
use easel_engine::seed::Latent;
use easel_engine::{
    Engine, EngineChoice, EngineKind, Lane, Model, OrtSettings, Provider, RenderRequest, Source,
    Urgency,
};
use reference::{max_level_diff, package};
use tract_onnx::tract_core::runtime::RunOptions;

fn runtime() -> &'static Runtime {
    onnxruntime::open(&OrtSettings::default()).unwrap_or_else(|e| {
        panic!("{e} (install the onnxruntime Python package: scripts/setup.sh)")
    })
}

fn on_ort(threads: usize) -> impl FnMut(&ModelPackage) -> Result<Model, easel_engine::LoadError> {
    move |package| {
        Model::load_onnxruntime(
            package,
            runtime(),
            &[Provider::Cpu],
            threads,
            &Default::default(),
        )
    }
}

#[test]
fn the_library_found_is_new_enough_and_has_the_cpu() {
    let rt = runtime();
    let minor: u32 = rt.version.split('.').nth(1).unwrap().parse().unwrap();
    assert!(minor >= onnxruntime::MIN_MINOR, "{rt:?}");
    assert!(rt.has(Provider::Cpu));
    assert!(rt.providers().contains(&Provider::Cpu));
}

#[test]
fn single_thread_output_matches_the_fixtures() {
    reference::check_all_cases(on_ort(1));
}

#[test]
fn two_thread_output_matches_the_fixtures() {
    reference::check_all_cases(on_ort(2));
}

#[test]
fn batched_frames_match_the_fixtures_within_one_level() {
    reference::check_batches(2, on_ort(2));
}

#[test]
fn models_say_they_run_on_onnxruntime() {
    let model = on_ort(2)(&package("dcgan-64")).unwrap();
    let info = model.info();
    assert_eq!(
        (info.engine, info.provider, info.lanes),
        (EngineKind::Onnxruntime, Provider::Cpu, 2)
    );
    assert!(info.warnings.is_empty(), "{:?}", info.warnings);
    assert_eq!((info.width, info.height), (64, 64));
}

#[test]
fn onnxruntime_and_tract_paint_the_same_pictures() {
    // Two independent engines on many latents: within one 8-bit level.
    let mut ort = on_ort(1)(&package("dcgan-64")).unwrap();
    let mut tract = Model::load(&package("dcgan-64"), &RunOptions::default()).unwrap();
    for seed in 0..12u64 {
        let source = Source::Latent(
            Latent::from_seed(seed, 100).slerp(&Latent::from_seed(seed + 1, 100), 0.4),
        );
        let a = ort.render(&source, None).unwrap();
        let b = tract.render(&source, None).unwrap();
        let diff = max_level_diff(&a, &b);
        assert!(diff <= 1, "seed {seed}: {diff} levels apart");
    }
}

#[test]
fn streamed_frames_equal_single_pictures() {
    let engine = Engine::start_with(2, 8, EngineChoice::only(EngineKind::Onnxruntime));
    let info = engine.load_blocking(package("dcgan-64")).unwrap();
    assert_eq!(info.engine, EngineKind::Onnxruntime);
    let stream = engine.stream("dcgan-64");
    let answers: Vec<_> = (0..10u64).map(|s| stream.paint(Source::Seed(s))).collect();
    let frames: Vec<_> = answers
        .into_iter()
        .map(|rx| rx.blocking_recv().unwrap().unwrap())
        .collect();
    drop(stream);
    for (seed, frame) in frames.iter().enumerate() {
        assert_eq!(frame.model.engine, EngineKind::Onnxruntime);
        let single = engine
            .render_blocking(RenderRequest {
                model: "dcgan-64".into(),
                source: Source::Seed(seed as u64),
                size: None,
                urgency: Urgency::Latest(Lane::Interactive),
            })
            .unwrap();
        let diff = max_level_diff(&frame.image, &single.image);
        assert!(diff <= 1, "seed {seed}: {diff} levels from a single render");
    }
    engine.shutdown();
}

#[test]
fn a_provider_the_library_lacks_falls_back_to_the_cpu_with_a_warning() {
    let rt = runtime();
    assert!(
        !rt.has(Provider::Tensorrt),
        "this test needs a library without TensorRT (the CPU wheel)"
    );
    let model = Model::load_onnxruntime(
        &package("dcgan-64"),
        rt,
        &[Provider::Tensorrt],
        1,
        &Default::default(),
    )
    .unwrap();
    let info = model.info();
    assert_eq!(info.provider, Provider::Cpu);
    assert_eq!(info.warnings.len(), 1, "{:?}", info.warnings);
    let w = &info.warnings[0];
    assert!(
        w.contains("onnxruntime") && w.contains("tensorrt") && w.contains("cpu"),
        "{w}"
    );
}

#[test]
fn a_manifest_that_names_onnxruntime_runs_there_unless_the_engine_is_forced() {
    let dir = tempfile::tempdir().unwrap();
    let from = reference::model_dir("dcgan-64");
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let manifest = dir.path().join(MANIFEST);
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replacen("kind = ", "engine = \"onnxruntime\"\nkind = ", 1);
    std::fs::write(&manifest, text).unwrap();
    let package = ModelPackage::open(dir.path()).unwrap();
    assert_eq!(package.manifest.engine, Some(EngineKind::Onnxruntime));

    let mut daemonlike = Engines::new(EngineChoice::default(), RunOptions::default(), 1);
    let model = daemonlike.load(&package).unwrap();
    assert_eq!(model.info().engine, EngineKind::Onnxruntime);
    let mut forced = Engines::new(
        EngineChoice::only(EngineKind::Tract),
        RunOptions::default(),
        1,
    );
    assert_eq!(
        forced.load(&package).unwrap().info().engine,
        EngineKind::Tract
    );
}
