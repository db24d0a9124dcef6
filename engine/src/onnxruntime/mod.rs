//! The onnxruntime side of the engine, through the `ort` crate with its
//! `load-dynamic` feature: nothing is downloaded or linked at build time;
//! the shared library is found and opened at run time ([`library`] says
//! where), once per process, so a board without it still runs tract.
//!
//! Versions: `ort` is built for onnxruntime's API 17 (its oldest), so any
//! onnxruntime from 1.17 on loads: JetPack 6 wheels (1.17-1.20 and
//! later), current PyPI wheels (1.32 here). An older library is refused
//! with its version named ([`RuntimeError::TooOld`]).
//!
//! - [`library`]: the search order and the Python package's library.
//! - [`model`]: sessions per provider, lanes, runs.
//! - [`profile`]: onnxruntime's own per-node profile of a model.

pub mod library;
pub mod model;
pub mod profile;

pub use model::OrtModel;

use crate::engines::{OrtSettings, Provider};
use library::{Candidate, Origin};
use ort::environment::Environment;
use ort::ep::ExecutionProvider;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The oldest onnxruntime minor version (`1.N`) this build loads.
pub const MIN_MINOR: u32 = ort::MINOR_VERSION;

/// Why onnxruntime cannot be used. Every message names onnxruntime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error("no onnxruntime library found (tried {})", tried.join("; "))]
    NotFound { tried: Vec<String> },
    #[error(
        "the onnxruntime library {path} ({origin}) is version {version}; easel needs onnxruntime 1.{MIN_MINOR} or newer"
    )]
    TooOld {
        path: PathBuf,
        origin: &'static str,
        version: String,
    },
    #[error("the onnxruntime library {path} ({origin}) cannot be used: {message}")]
    Unusable {
        path: PathBuf,
        origin: &'static str,
        message: String,
    },
}

/// The opened library: ort's process-wide environment, and what it is.
pub struct Runtime {
    pub(crate) env: Environment,
    pub library: PathBuf,
    pub origin: Origin,
    /// `1.32.0`, from the library's build information (or its file name).
    pub version: String,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("library", &self.library)
            .field("version", &self.version)
            .finish()
    }
}

impl Runtime {
    /// Whether this library was built with `provider`.
    pub fn has(&self, provider: Provider) -> bool {
        let available = match provider {
            Provider::Cpu => return true,
            Provider::Cuda => ort::ep::CUDA::is_available(),
            Provider::Tensorrt => ort::ep::TensorRT::is_available(),
        };
        available.unwrap_or(false)
    }

    /// The providers of `Provider::ALL` this library has.
    pub fn providers(&self) -> Vec<Provider> {
        Provider::ALL.into_iter().filter(|p| self.has(*p)).collect()
    }
}

/// ort allows one library and one environment per process: the first
/// that opens is kept for the process's life.
static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static OPENING: Mutex<()> = Mutex::new(());

/// Opens onnxruntime (see [`library`] for the search), or returns the one
/// this process opened before, whatever `settings` say now.
pub fn open(settings: &OrtSettings) -> Result<&'static Runtime, RuntimeError> {
    let _one_at_a_time = OPENING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let found = library::candidates(
        std::env::var_os(library::ENV),
        settings.library.as_deref(),
        || {
            library::python_package_dir(Duration::from_secs(10))
                .and_then(|dir| library::in_python_package(&dir))
        },
    );
    let mut tried = Vec::new();
    for candidate in &found {
        match open_one(candidate) {
            Ok(runtime) => {
                tracing::info!(
                    library = %runtime.library.display(),
                    version = %runtime.version,
                    from = runtime.origin.describe(),
                    "onnxruntime loaded"
                );
                return Ok(RUNTIME.get_or_init(|| runtime));
            }
            // A library named explicitly is the only one tried.
            Err(e) if matches!(candidate.origin, Origin::Env | Origin::Config) => return Err(e),
            Err(e) => tried.push(e.to_string()),
        }
    }
    Err(RuntimeError::NotFound { tried })
}

fn open_one(candidate: &Candidate) -> Result<Runtime, RuntimeError> {
    let origin = candidate.origin.describe();
    let path = candidate.path.clone();
    let unusable = |message: String| RuntimeError::Unusable {
        path: path.clone(),
        origin,
        message,
    };
    let builder = ort::init_from(&candidate.path).map_err(|e| match e {
        ort::LoadDynamicError::BadVersion { version_str, .. } => RuntimeError::TooOld {
            path: path.clone(),
            origin,
            version: version_str,
        },
        ort::LoadDynamicError::Dlopen { error, .. } => unusable(error.to_string()),
        other => unusable(other.to_string()),
    })?;
    let env = builder
        .with_name("easel")
        .with_telemetry(false)
        .build()
        .map_err(|e| unusable(e.to_string()))?;
    // onnxruntime's own messages go to our log: warnings and worse only.
    env.set_log_level(ort::logging::LogLevel::Warning);
    Ok(Runtime {
        env,
        version: version_of(ort::info(), &candidate.path),
        library: candidate.path.clone(),
        origin: candidate.origin,
    })
}

/// `1.32.0` from onnxruntime's build string (`git-branch=rel-1.32.0`),
/// else from the file name (`libonnxruntime.so.1.32.0`), else `unknown`.
fn version_of(build_info: &str, path: &std::path::Path) -> String {
    let from_branch = build_info
        .split([',', ' '])
        .find_map(|part| part.trim().strip_prefix("git-branch=rel-"))
        .map(str::to_string);
    let from_name = || {
        let name = path.file_name()?.to_string_lossy().into_owned();
        let (_, version) = name.split_once(".so.")?;
        version
            .starts_with(char::is_numeric)
            .then(|| version.to_string())
    };
    from_branch
        .or_else(from_name)
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_version_comes_from_the_build_string_or_the_file_name() {
        let info = "ORT Build Info: git-branch=rel-1.32.0, git-commit-id=abc, build type=Release";
        assert_eq!(version_of(info, Path::new("x.so")), "1.32.0");
        assert_eq!(
            version_of(
                "ORT Build Info: git-branch=main",
                Path::new("/a/libonnxruntime.so.1.20.1")
            ),
            "1.20.1"
        );
        assert_eq!(version_of("", Path::new("libonnxruntime.so")), "unknown");
    }

    #[test]
    fn messages_name_onnxruntime_and_the_minimum() {
        let old = RuntimeError::TooOld {
            path: "/l.so".into(),
            origin: "ORT_DYLIB_PATH",
            version: "1.16.3".into(),
        };
        let text = old.to_string();
        assert!(
            text.contains("onnxruntime") && text.contains("1.16.3"),
            "{text}"
        );
        assert!(text.contains(&format!("1.{MIN_MINOR} or newer")), "{text}");
        let none = RuntimeError::NotFound {
            tried: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            none.to_string(),
            "no onnxruntime library found (tried a; b)"
        );
    }
}
