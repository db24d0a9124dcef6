//! Our engine's numbers against an independent reference: onnxruntime's
//! outputs for every reference model, written with the inputs that made
//! them by `tests/fixtures/make_fixtures.py` (which also reimplements the
//! seed -> latent algorithm and the CPPN grid from their documentation).
//!
//! Also here: every way the engine paints several frames (batches on
//! lanes, the live stream) gives the single picture's pixels.
//!
//! A mismatch here means tract, our input preparation, or our RNG drifted
//! from what the model means; a fixture whose model sha256 no longer
//! matches means the model was regenerated and the script must be rerun.

use easel_engine::package::ModelPackage;
use easel_engine::picture::RgbImage;
use easel_engine::pixels::cppn_coords;
use easel_engine::seed::Latent;
use easel_engine::{Engine, Lane, Model, RenderRequest, RunError, Source, Urgency};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tract_linalg::multithread::Executor;
use tract_onnx::tract_core::runtime::RunOptions;

/// The contract's bar for "same numbers as onnxruntime".
const TOLERANCE: f32 = 1e-4;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// A float32, C-order `.npy` array: `(shape, values)`. Only what the
/// fixture script writes (`np.save` of float32, format 1.0).
fn read_npy(name: &str) -> (Vec<usize>, Vec<f32>) {
    let path = fixture(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x93NUMPY"), "{name}: not .npy");
    assert_eq!(bytes[6], 1, "{name}: .npy format 1.0 expected");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ASCII header");
    assert!(
        header.contains("'descr': '<f4'"),
        "{name}: float32 expected: {header}"
    );
    assert!(
        header.contains("'fortran_order': False"),
        "{name}: C order expected: {header}"
    );
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("shape");
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("dim"))
        .collect();
    let data = &bytes[10 + header_len..];
    assert_eq!(
        data.len(),
        4 * shape.iter().product::<usize>(),
        "{name}: data size"
    );
    (
        shape,
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[derive(Debug)]
struct Case {
    model: String,
    model_sha256: String,
    seed: Option<u64>,
    latent: Option<String>,
    size: Option<(u32, u32)>,
    coords: Option<String>,
    picture: Option<String>,
    output: String,
}

impl Case {
    fn label(&self) -> String {
        match (&self.seed, &self.size, &self.picture) {
            (Some(seed), Some((w, h)), _) => format!("{} seed {seed} at {w}x{h}", self.model),
            (Some(seed), None, _) => format!("{} seed {seed}", self.model),
            (None, _, Some(picture)) => format!("{} on {picture}", self.model),
            _ => self.model.clone(),
        }
    }
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixture("cases.json")).expect("tests/fixtures/cases.json");
    let meta: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    let string = |c: &Value, key: &str| c.get(key).and_then(Value::as_str).map(str::to_string);
    meta["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            model: string(c, "model").expect("model"),
            model_sha256: string(c, "model_sha256").expect("model_sha256"),
            seed: c.get("seed").map(|s| s.as_u64().expect("seed is a u64")),
            latent: string(c, "latent"),
            size: c
                .get("size")
                .map(|s| (s[0].as_u64().unwrap() as u32, s[1].as_u64().unwrap() as u32)),
            coords: string(c, "coords"),
            picture: string(c, "picture"),
            output: string(c, "output").expect("output"),
        })
        .collect()
}

fn package(name: &str) -> ModelPackage {
    ModelPackage::open(root().join("models").join(name)).expect("reference package opens")
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn source(case: &Case) -> Source {
    match (&case.seed, &case.picture) {
        (Some(seed), _) => Source::Seed(*seed),
        (None, Some(picture)) => {
            let bytes = std::fs::read(fixture(picture)).expect("fixture picture");
            Source::Image(Arc::new(
                RgbImage::decode_png(&bytes).expect("fixture PNG decodes"),
            ))
        }
        (None, None) => panic!("{}: a case needs a seed or a picture", case.label()),
    }
}

/// Runs every fixture case through `Model::infer` with `options` and
/// compares with onnxruntime; reports every mismatch, not just the first.
fn check_all_cases(options: &RunOptions) {
    let cases = cases();
    let mut by_model: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for case in &cases {
        by_model.entry(&case.model).or_default().push(case);
    }
    let mut failures = Vec::new();
    for (name, cases) in by_model {
        let package = package(name);
        for case in &cases {
            assert_eq!(
                package.manifest.sha256, case.model_sha256,
                "models/{name} changed since the fixtures were made: rerun tests/fixtures/make_fixtures.py"
            );
        }
        let mut model = Model::load(&package, options).unwrap_or_else(|e| panic!("{name}: {e}"));
        for case in cases {
            let (data, shape) = model
                .infer(&source(case), case.size)
                .unwrap_or_else(|e| panic!("{}: {e}", case.label()));
            let (want_shape, want) = read_npy(&case.output);
            assert_eq!(shape, want_shape, "{}: output shape", case.label());
            let diff = max_abs_diff(&data, &want);
            eprintln!("{}: max abs error {diff:e}", case.label());
            // `f32::max` skips NaN, so finiteness is checked on its own.
            if diff > TOLERANCE || data.iter().any(|v| !v.is_finite()) {
                failures.push(format!(
                    "{}: max abs error {diff:e} > {TOLERANCE:e}",
                    case.label()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "engine output differs from onnxruntime:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_reference_model_is_covered_twice() {
    let cases = cases();
    let models: Vec<String> = std::fs::read_dir(root().join("models"))
        .expect("models/")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(models.len() >= 3, "reference models: {models:?}");
    for name in &models {
        let inputs: std::collections::BTreeSet<String> = cases
            .iter()
            .filter(|c| &c.model == name)
            .map(|c| {
                c.seed
                    .map_or_else(|| c.picture.clone().unwrap_or_default(), |s| s.to_string())
            })
            .collect();
        assert!(
            inputs.len() >= 2,
            "{name}: fixtures for two seeds or pictures expected, found {inputs:?}"
        );
    }
}

#[test]
fn single_thread_output_matches_onnxruntime() {
    check_all_cases(&RunOptions {
        executor: Some(Executor::SingleThread),
        ..RunOptions::default()
    });
}

#[test]
fn two_thread_output_matches_onnxruntime() {
    // The multithreaded matrix kernels split work differently; the sums
    // may round differently but must stay within the same tolerance.
    check_all_cases(&RunOptions {
        executor: Some(Executor::multithread(2)),
        ..RunOptions::default()
    });
}

#[test]
fn latents_match_the_independent_python_implementation() {
    let mut checked = 0;
    for case in cases() {
        let (Some(seed), Some(file)) = (case.seed, &case.latent) else {
            continue;
        };
        let (shape, want) = read_npy(file);
        let package = package(&case.model);
        assert_eq!(shape, package.manifest.input.shape, "{file}: shape");
        let ours = Latent::from_seed(seed, want.len()).values;
        // Bit for bit: the seed algorithm is a contract across machines.
        let ours_bits: Vec<u32> = ours.iter().map(|v| v.to_bits()).collect();
        let want_bits: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            ours_bits, want_bits,
            "seed {seed}: latent differs from the Python reimplementation"
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} latent fixtures");
}

#[test]
fn cppn_grid_matches_the_independent_python_implementation() {
    let mut checked = 0;
    for case in cases() {
        let (Some((w, h)), Some(file)) = (case.size, &case.coords) else {
            continue;
        };
        let scale = package(&case.model)
            .manifest
            .cppn
            .expect("cppn table")
            .scale;
        let (shape, want) = read_npy(file);
        assert_eq!(shape, vec![1, 3, h as usize, w as usize], "{file}: shape");
        let ours = cppn_coords(w as usize, h as usize, scale);
        assert_eq!(ours, want, "{file}: grid differs");
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} grid fixtures");
}

#[test]
fn fixture_pictures_are_the_models_input_size() {
    // A resized picture would test the resampler, not the model: the
    // fixtures must feed the network exactly what onnxruntime saw.
    for case in cases() {
        let Some(picture) = &case.picture else {
            continue;
        };
        let shape = package(&case.model).manifest.input.shape;
        let image = RgbImage::decode_png(&std::fs::read(fixture(picture)).unwrap()).unwrap();
        assert_eq!(
            (image.height as usize, image.width as usize),
            (shape[2], shape[3]),
            "{picture}"
        );
    }
}

/// Largest per-channel difference between two pictures of one size.
fn max_level_diff(a: &RgbImage, b: &RgbImage) -> u8 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    a.rgb
        .iter()
        .zip(&b.rgb)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn batched_frames_match_onnxruntime_within_one_level() {
    // Morph and live frames run as batches, one frame per thread on
    // single-threaded plans: every frame must still be the reference
    // picture, within one 8-bit level (float rounding at a level's edge).
    let cases = cases();
    let mut by_model: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for case in cases.iter().filter(|c| c.size.is_none()) {
        by_model.entry(&case.model).or_default().push(case);
    }
    let options = RunOptions {
        executor: Some(Executor::multithread(2)),
        ..RunOptions::default()
    };
    for (name, cases) in by_model {
        let package = package(name);
        let mut model = Model::load(&package, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(model.lanes(), 2);
        // Each case twice, so both lanes render every input.
        let sources: Vec<Source> = cases.iter().chain(&cases).map(|c| source(c)).collect();
        let frames = model.render_many(&sources);
        for (case, frame) in cases.iter().chain(&cases).zip(frames) {
            let frame = frame.unwrap_or_else(|e| panic!("{}: {e}", case.label()));
            let (shape, want) = read_npy(&case.output);
            let m = &package.manifest.output;
            let want =
                easel_engine::pixels::tensor_to_rgb(&want, &shape, m.layout, m.range, 0).unwrap();
            let diff = max_level_diff(&frame, &want);
            eprintln!(
                "{} in a batch: {diff} levels from onnxruntime",
                case.label()
            );
            assert!(
                diff <= 1,
                "{}: {diff} levels from onnxruntime",
                case.label()
            );
        }
    }
}

#[test]
fn batched_frames_equal_single_pictures() {
    // Many latents through both paths of the same model: a batch on two
    // lanes, and one picture at a time on the thread count chosen at load.
    let options = RunOptions {
        executor: Some(Executor::multithread(2)),
        ..RunOptions::default()
    };
    let mut model = Model::load(&package("dcgan-64"), &options).unwrap();
    let sources: Vec<Source> = (0..24u64)
        .map(|seed| {
            Source::Latent(
                Latent::from_seed(seed, 100).slerp(&Latent::from_seed(seed + 1, 100), 0.3),
            )
        })
        .collect();
    let frames = model.render_many(&sources);
    for (ix, (source, frame)) in sources.iter().zip(frames).enumerate() {
        let single = model.render(source, None).unwrap();
        let diff = max_level_diff(&frame.unwrap(), &single);
        assert!(diff <= 1, "frame {ix}: {diff} levels apart");
    }
}

/// One picture of dcgan-64 from `seed` through the engine's single path.
fn single(engine: &Engine, seed: u64) -> RgbImage {
    engine
        .render_blocking(RenderRequest {
            model: "dcgan-64".into(),
            source: Source::Seed(seed),
            size: None,
            urgency: Urgency::Latest(Lane::Interactive),
        })
        .unwrap()
        .image
}

#[test]
fn streamed_frames_equal_single_pictures_and_a_job_ends_the_stream() {
    let engine = Engine::start(2, 8);
    engine.load_blocking(package("dcgan-64")).unwrap();
    let stream = engine.stream("dcgan-64");
    assert_eq!(stream.lanes(), 2);
    let answers: Vec<_> = (0..12u64).map(|s| stream.paint(Source::Seed(s))).collect();
    let frames: Vec<RgbImage> = answers
        .into_iter()
        .map(|rx| rx.blocking_recv().unwrap().unwrap().image)
        .collect();
    assert!(
        stream.is_open(),
        "nothing else waited: the stream stays open"
    );

    // A single picture is served: the stream let the worker go.
    for (seed, frame) in frames.iter().enumerate() {
        let diff = max_level_diff(frame, &single(&engine, seed as u64));
        assert!(diff <= 1, "seed {seed}: {diff} levels from a single render");
    }
    assert!(!stream.is_open(), "another job ended the stream");
    assert!(matches!(
        stream.paint(Source::Seed(1)).blocking_recv().unwrap(),
        Err(RunError::Superseded)
    ));
    drop(stream);

    let unknown = engine.stream("no-such-model");
    assert!(matches!(
        unknown.paint(Source::Seed(1)).blocking_recv().unwrap(),
        Err(RunError::UnknownModel(_))
    ));
    drop(unknown);
    engine.shutdown();
}

#[test]
fn frames_waiting_when_a_job_arrives_are_answered_superseded() {
    const FRAMES: u64 = 2000;
    let engine = Engine::start(2, 8);
    engine.load_blocking(package("dcgan-64")).unwrap();
    let stream = engine.stream("dcgan-64");
    // Many frames, so that even on a loaded machine (this thread descheduled
    // while the lanes paint) the job arrives before the last one started.
    let answers: Vec<_> = (0..FRAMES).map(|s| stream.paint(Source::Seed(s))).collect();
    // Arrives while most frames still wait: served after the frames in progress.
    let picture = single(&engine, 3);
    assert_eq!((picture.width, picture.height), (64, 64));
    let (mut painted, mut superseded) = (0u64, 0u64);
    for rx in answers {
        match rx.blocking_recv() {
            Ok(Ok(_)) => painted += 1,
            // Unstarted frames drop with the stream: their sender is gone.
            Ok(Err(RunError::Superseded)) | Err(_) => superseded += 1,
            Ok(Err(e)) => panic!("unexpected answer: {e}"),
        }
    }
    assert_eq!(painted + superseded, FRAMES);
    assert!(
        superseded > 0,
        "the job did not wait for all {FRAMES} frames"
    );
    drop(stream);
    engine.shutdown();
}
