//! Which inference engine runs a model, and what happens when it cannot:
//! the names (`tract`, `onnxruntime`, the onnxruntime execution
//! providers), the settings a daemon or a tool passes in, and the one
//! rule every caller shares ([`Engines::load`]): a model onnxruntime
//! cannot run (no library, a library too old, a model it refuses) runs on
//! tract with a warning that names onnxruntime, so a piece is never dark
//! because of the engine it was told to prefer.
//!
//! tract is the default: pure Rust, on every board, no native library.
//! onnxruntime is loaded at run time where a board has it
//! (`crate::onnxruntime`). Nothing here reads a config file; the daemon's
//! config and the tools' flags fill [`EngineChoice`] in.

use crate::budget::Budget;
use crate::load::LoadError;
use crate::model::Model;
use crate::onnxruntime::{self, Runtime};
use crate::package::{Manifest, ModelPackage};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use tract_onnx::tract_core::runtime::RunOptions;

/// An inference engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// tract: pure Rust, the default.
    #[default]
    Tract,
    /// onnxruntime's shared library, loaded at run time.
    Onnxruntime,
}

impl EngineKind {
    pub const ALL: [EngineKind; 2] = [EngineKind::Tract, EngineKind::Onnxruntime];

    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Tract => "tract",
            EngineKind::Onnxruntime => "onnxruntime",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EngineKind {
    type Err = String;

    fn from_str(s: &str) -> Result<EngineKind, String> {
        EngineKind::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not an engine: tract or onnxruntime"))
    }
}

/// Where an onnxruntime session runs its operators. tract runs on `cpu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// NVIDIA TensorRT (builds an engine per model at load: slow first load).
    Tensorrt,
    /// NVIDIA CUDA (the `onnxruntime-gpu` wheel, JetPack builds).
    Cuda,
    /// The CPU: always there.
    #[default]
    Cpu,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Tensorrt, Provider::Cuda, Provider::Cpu];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Tensorrt => "tensorrt",
            Provider::Cuda => "cuda",
            Provider::Cpu => "cpu",
        }
    }

    /// Whether frames run one per CPU thread (CPU) or one at a time on
    /// the device (a GPU serialises them anyway, and every extra session
    /// there costs device memory and, for TensorRT, minutes of building).
    pub fn is_cpu(self) -> bool {
        self == Provider::Cpu
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Provider, String> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a provider: tensorrt, cuda or cpu"))
    }
}

/// `[onnxruntime]`: where the library is and which providers to prefer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtSettings {
    /// The shared library, when the installation names one. `ORT_DYLIB_PATH`
    /// wins over it; without either, the library is searched for
    /// (`crate::onnxruntime::library`).
    pub library: Option<PathBuf>,
    /// In order of preference; a provider the library lacks falls back to
    /// the next one, and CPU comes last whether listed or not.
    pub providers: Vec<Provider>,
}

impl Default for OrtSettings {
    fn default() -> OrtSettings {
        OrtSettings {
            library: None,
            providers: vec![Provider::Cpu],
        }
    }
}

/// How a worker picks the engine for each model it loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineChoice {
    /// The engine of models whose manifest names none.
    pub engine: EngineKind,
    /// Whether a manifest's `engine` wins over [`EngineChoice::engine`]
    /// (the daemon, the tools without `--engine`) or not (`--engine`).
    pub manifest_decides: bool,
    /// Whether a model onnxruntime cannot run falls back to tract with a
    /// warning (the daemon) or fails to load (`--engine onnxruntime`).
    pub fallback: bool,
    pub onnxruntime: OrtSettings,
    /// The memory one model may take (`crate::budget`), on every engine.
    pub budget: Budget,
}

impl Default for EngineChoice {
    /// tract for everything, unless a manifest asks for onnxruntime.
    fn default() -> EngineChoice {
        EngineChoice {
            engine: EngineKind::Tract,
            manifest_decides: true,
            fallback: true,
            onnxruntime: OrtSettings::default(),
            budget: Budget::default(),
        }
    }
}

impl EngineChoice {
    /// Exactly `engine`, whatever the manifests say, and no fallback: what
    /// a tool given `--engine` measures or renders with.
    pub fn only(engine: EngineKind) -> EngineChoice {
        EngineChoice {
            engine,
            manifest_decides: false,
            fallback: false,
            onnxruntime: OrtSettings::default(),
            budget: Budget::default(),
        }
    }

    /// The engine a model with this manifest should run on.
    pub fn engine_for(&self, manifest: &Manifest) -> EngineKind {
        match manifest.engine {
            Some(engine) if self.manifest_decides => engine,
            _ => self.engine,
        }
    }
}

/// The engines one worker loads models on: tract's run options (its
/// thread pool), and onnxruntime opened on first need and kept, whether
/// it opened or not (a missing library is looked for once, not per model).
pub struct Engines {
    choice: EngineChoice,
    tract: RunOptions,
    threads: usize,
    runtime: Option<Result<&'static Runtime, String>>,
}

impl Engines {
    pub fn new(choice: EngineChoice, tract: RunOptions, threads: usize) -> Engines {
        Engines {
            choice,
            tract,
            threads: threads.max(1),
            runtime: None,
        }
    }

    /// tract's run options (the thread pool models run on): the worker's,
    /// for models loaded on another thread.
    pub fn tract(&self) -> &RunOptions {
        &self.tract
    }

    pub fn set_tract(&mut self, tract: RunOptions) {
        self.tract = tract;
    }

    pub fn choice(&self) -> &EngineChoice {
        &self.choice
    }

    /// onnxruntime, opened now if it was not tried yet.
    pub fn runtime(&mut self) -> Result<&'static Runtime, String> {
        let settings = &self.choice.onnxruntime;
        self.runtime
            .get_or_insert_with(|| onnxruntime::open(settings).map_err(|e| e.to_string()))
            .clone()
    }

    /// Loads `package` on the engine its manifest and the choice name; a
    /// model onnxruntime cannot run falls back to tract when the choice
    /// allows it, and says so in [`crate::ModelInfo::warnings`].
    pub fn load(&mut self, package: &ModelPackage) -> Result<Model, LoadError> {
        let budget = self.choice.budget;
        match self.choice.engine_for(&package.manifest) {
            EngineKind::Tract => Model::load_within(package, &self.tract, &budget),
            EngineKind::Onnxruntime => {
                let threads = self.threads;
                let providers = self.choice.onnxruntime.providers.clone();
                let attempt = match self.runtime() {
                    Ok(runtime) => {
                        Model::load_onnxruntime(package, runtime, &providers, threads, &budget)
                    }
                    Err(message) => Err(LoadError::Onnxruntime {
                        path: package.onnx_path(),
                        message,
                    }),
                };
                match attempt {
                    Err(e) if self.choice.fallback => {
                        let warning = format!("{}; it runs on tract instead", fallback_reason(&e));
                        tracing::warn!(model = %package.name(), "{warning}");
                        let mut model = Model::load_within(package, &self.tract, &budget)?;
                        model.warn(warning);
                        Ok(model)
                    }
                    other => other,
                }
            }
        }
    }
}

/// Why onnxruntime did not take a model, as a warning names it: always
/// with the word onnxruntime (a technician searches for it).
fn fallback_reason(e: &LoadError) -> String {
    match e {
        LoadError::Onnxruntime { message, .. } => format!("onnxruntime: {message}"),
        other => format!("onnxruntime could not load the model: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        for e in EngineKind::ALL {
            assert_eq!(e.as_str().parse::<EngineKind>(), Ok(e));
        }
        for p in Provider::ALL {
            assert_eq!(p.to_string().parse::<Provider>(), Ok(p));
        }
        assert!(
            "ort"
                .parse::<EngineKind>()
                .unwrap_err()
                .contains("tract or onnxruntime")
        );
        assert!(
            "rocm"
                .parse::<Provider>()
                .unwrap_err()
                .contains("tensorrt, cuda or cpu")
        );
        assert_eq!(EngineKind::default(), EngineKind::Tract);
    }

    #[test]
    fn a_manifest_decides_unless_the_engine_was_forced() {
        let text = "name = \"m\"\nkind = \"latent\"\nfile = \"m.onnx\"\nengine = \"onnxruntime\"\n\
                    sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n\
                    [input]\nname = \"z\"\nshape = [1, 4]\n[output]\nname = \"y\"\nrange = [-1.0, 1.0]\n";
        let manifest = Manifest::parse(text).unwrap();
        assert_eq!(
            EngineChoice::default().engine_for(&manifest),
            EngineKind::Onnxruntime
        );
        assert_eq!(
            EngineChoice::only(EngineKind::Tract).engine_for(&manifest),
            EngineKind::Tract
        );
        let mut plain = manifest.clone();
        plain.engine = None;
        let daemon = EngineChoice {
            engine: EngineKind::Onnxruntime,
            ..EngineChoice::default()
        };
        assert_eq!(daemon.engine_for(&plain), EngineKind::Onnxruntime);
        assert_eq!(
            EngineChoice::default().engine_for(&plain),
            EngineKind::Tract
        );
    }

    #[test]
    fn fallback_reasons_name_onnxruntime() {
        let path = PathBuf::from("m.onnx");
        let missing = LoadError::Onnxruntime {
            path: path.clone(),
            message: "no library at /nope".into(),
        };
        assert_eq!(
            fallback_reason(&missing),
            "onnxruntime: no library at /nope"
        );
        let refused = LoadError::SmokeTest {
            path,
            message: "NaN".into(),
        };
        assert!(fallback_reason(&refused).starts_with("onnxruntime could not load"));
    }
}
