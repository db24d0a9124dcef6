//! The `--engine` and `--providers` flags of the tools that run models
//! (`generate`, `bench`, `profile`, `inspect`), and the engine choice
//! they make: with `--engine`, exactly that engine and no fallback (a
//! measurement must say what it measured); without it, what the daemon
//! would do: the manifest's `engine`, else tract, and a model
//! onnxruntime cannot run falls back to tract with a warning.
//!
//! onnxruntime's library is found as the daemon finds it: `ORT_DYLIB_PATH`,
//! else the `onnxruntime` Python package, else the system's library path.

use easel_engine::{EngineChoice, EngineKind, Provider};

#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// Inference engine: tract or onnxruntime (default: the manifest's
    /// `engine`, else tract). onnxruntime's library comes from
    /// ORT_DYLIB_PATH, else the onnxruntime Python package, else the
    /// system's library path.
    #[arg(long)]
    pub engine: Option<EngineKind>,
    /// onnxruntime execution providers in order of preference, comma
    /// separated: tensorrt, cuda, cpu (a missing one falls back to the next).
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    pub providers: Vec<Provider>,
}

impl EngineArgs {
    pub fn choice(&self) -> EngineChoice {
        choice(self.engine, &self.providers)
    }
}

/// The choice for `engine` (`None`: the daemon's rule) and `providers`.
pub fn choice(engine: Option<EngineKind>, providers: &[Provider]) -> EngineChoice {
    let mut choice = match engine {
        Some(engine) => EngineChoice::only(engine),
        None => EngineChoice::default(),
    };
    choice.onnxruntime.providers = providers.to_vec();
    choice
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_engine_is_forced_and_strict() {
        let forced = choice(Some(EngineKind::Onnxruntime), &[Provider::Cuda]);
        assert_eq!(forced.engine, EngineKind::Onnxruntime);
        assert!(!forced.fallback && !forced.manifest_decides);
        assert_eq!(forced.onnxruntime.providers, vec![Provider::Cuda]);
        let daemonlike = choice(None, &[Provider::Cpu]);
        assert!(daemonlike.fallback && daemonlike.manifest_decides);
        assert_eq!(daemonlike.engine, EngineKind::Tract);
    }
}
