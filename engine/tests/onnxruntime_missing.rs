//! What happens when onnxruntime cannot be loaded, in a process of its
//! own (ort keeps the first library it opens for the process's life):
//! `ORT_DYLIB_PATH` names a file that does not exist, and it is tried
//! first and alone, even though `[onnxruntime] library` names a real one;
//! opening fails with a message naming onnxruntime and the path; a model
//! that asked for onnxruntime runs on tract with that warning, and fails
//! to load instead where no fallback is allowed (`--engine onnxruntime`).

use easel_engine::engines::Engines;
use easel_engine::onnxruntime::{self, library};
use easel_engine::package::ModelPackage;
use easel_engine::{EngineChoice, EngineKind, OrtSettings, Provider};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tract_onnx::tract_core::runtime::RunOptions;

const MISSING: &str = "/nonexistent/easel-test/libonnxruntime.so";

/// The real library, as the search finds it without any name.
fn real_library() -> PathBuf {
    library::python_package_dir(Duration::from_secs(20))
        .and_then(|dir| library::in_python_package(&dir))
        .expect("the onnxruntime Python package (scripts/setup.sh installs it)")
}

#[test]
fn a_missing_library_named_first_falls_back_to_tract_with_a_warning() {
    // The only test in this binary: nothing else reads the environment.
    unsafe { std::env::set_var(library::ENV, MISSING) };
    let settings = OrtSettings {
        library: Some(real_library()),
        providers: vec![Provider::Cpu],
    };
    let err = onnxruntime::open(&settings).unwrap_err().to_string();
    assert!(
        err.contains("onnxruntime") && err.contains(MISSING) && err.contains("ORT_DYLIB_PATH"),
        "{err}"
    );

    let package = ModelPackage::open(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/models/dcgan-64"),
    )
    .unwrap();
    let daemonlike = EngineChoice {
        engine: EngineKind::Onnxruntime,
        onnxruntime: settings.clone(),
        ..EngineChoice::default()
    };
    let mut engines = Engines::new(daemonlike, RunOptions::default(), 1);
    let model = engines.load(&package).unwrap();
    let info = model.info();
    assert_eq!(info.engine, EngineKind::Tract);
    assert_eq!(info.warnings.len(), 1, "{:?}", info.warnings);
    assert!(
        info.warnings[0].contains("onnxruntime") && info.warnings[0].contains(MISSING),
        "{}",
        info.warnings[0]
    );

    let mut strict = EngineChoice::only(EngineKind::Onnxruntime);
    strict.onnxruntime = settings;
    let mut engines = Engines::new(strict, RunOptions::default(), 1);
    let err = engines.load(&package).err().expect("no fallback allowed");
    assert!(err.to_string().contains("onnxruntime"), "{err}");
}
