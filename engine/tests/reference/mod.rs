//! The fixtures of `tests/fixtures` (onnxruntime's outputs for every
//! reference model, with the inputs that made them) as the numeric tests
//! read them: the cases, their `.npy` arrays, their sources, and how far
//! apart two results are. Shared by the tract and onnxruntime checks.
#![allow(dead_code)]

use easel_engine::Source;
use easel_engine::package::ModelPackage;
use easel_engine::picture::RgbImage;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The contract's bar for "same numbers as onnxruntime".
pub const TOLERANCE: f32 = 1e-4;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The reference models, shipped (`models/`) and test-only
/// (`tests/fixtures/models/`): where the other crates' tests find them too.
#[allow(unused_imports)] // each test binary uses what it needs
pub use easel_test_support::{reference_model as model_dir, reference_model_names as model_names};

pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// A float32, C-order `.npy` array: `(shape, values)`. Only what the
/// fixture script writes (`np.save` of float32, format 1.0).
pub fn read_npy(name: &str) -> (Vec<usize>, Vec<f32>) {
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
pub struct Case {
    pub model: String,
    pub model_sha256: String,
    pub seed: Option<u64>,
    pub latent: Option<String>,
    pub size: Option<(u32, u32)>,
    pub coords: Option<String>,
    pub picture: Option<String>,
    pub output: String,
}

impl Case {
    pub fn label(&self) -> String {
        match (&self.seed, &self.size, &self.picture) {
            (Some(seed), Some((w, h)), _) => format!("{} seed {seed} at {w}x{h}", self.model),
            (Some(seed), None, _) => format!("{} seed {seed}", self.model),
            (None, _, Some(picture)) => format!("{} on {picture}", self.model),
            _ => self.model.clone(),
        }
    }
}

pub fn cases() -> Vec<Case> {
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

pub fn package(name: &str) -> ModelPackage {
    ModelPackage::open(model_dir(name)).expect("reference package opens")
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn source(case: &Case) -> Source {
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

/// Largest per-channel difference between two pictures of one size.
pub fn max_level_diff(a: &RgbImage, b: &RgbImage) -> u8 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    a.rgb
        .iter()
        .zip(&b.rgb)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

/// Runs every fixture case through `Model::infer` on the models `load`
/// makes and compares with onnxruntime's outputs; reports every
/// mismatch, not just the first.
pub fn check_all_cases(
    mut load: impl FnMut(&ModelPackage) -> Result<easel_engine::Model, easel_engine::LoadError>,
) {
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
        let mut model = load(&package).unwrap_or_else(|e| panic!("{name}: {e}"));
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

/// Every fixed-size fixture case painted in one batch on the models
/// `load` makes (`lanes` of them), each case twice so every lane paints
/// every input: each frame within one 8-bit level of onnxruntime's.
pub fn check_batches(
    lanes: usize,
    mut load: impl FnMut(&ModelPackage) -> Result<easel_engine::Model, easel_engine::LoadError>,
) {
    let cases = cases();
    let mut by_model: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for case in cases.iter().filter(|c| c.size.is_none()) {
        by_model.entry(&case.model).or_default().push(case);
    }
    for (name, cases) in by_model {
        let package = package(name);
        let mut model = load(&package).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(model.lanes(), lanes, "{name}: lanes");
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
