//! `engine` and `[onnxruntime]`: which inference engine models run on,
//! where onnxruntime's library is and which providers to prefer.
//! Validated values only; finding and opening the library, and falling
//! back to tract when it cannot be used, are the engine crate's.

use easel_engine::{EngineChoice, EngineKind, OrtSettings, Provider};
use serde::Deserialize;
use std::path::PathBuf;

/// `[onnxruntime]` as serde reads it (unknown keys rejected).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOnnxruntime {
    /// The shared library; env `ORT_DYLIB_PATH` wins over it.
    pub library: Option<PathBuf>,
    /// In order of preference: `tensorrt`, `cuda`, `cpu`.
    pub providers: Option<Vec<String>>,
}

/// The second stage of `engine` and `[onnxruntime]`: the engine choice
/// of the daemon (a manifest's `engine` wins; a model onnxruntime cannot
/// run falls back to tract), or every (key, problem) pair.
pub fn choice(
    engine: Option<&str>,
    raw: &RawOnnxruntime,
) -> Result<EngineChoice, Vec<(&'static str, String)>> {
    let mut problems = Vec::new();
    let engine = match engine.map(str::parse::<EngineKind>) {
        None => EngineKind::default(),
        Some(Ok(engine)) => engine,
        Some(Err(e)) => {
            problems.push(("engine", e));
            EngineKind::default()
        }
    };
    let mut providers = Vec::new();
    for name in raw.providers.iter().flatten() {
        match name.parse::<Provider>() {
            Ok(p) if providers.contains(&p) => {
                problems.push(("providers", format!("{name:?} is listed twice")))
            }
            Ok(p) => providers.push(p),
            Err(e) => problems.push(("providers", e)),
        }
    }
    if raw.providers.as_ref().is_some_and(Vec::is_empty) {
        problems.push(("providers", "lists no provider (cpu at least)".into()));
    }
    if providers.is_empty() {
        providers = OrtSettings::default().providers;
    }
    if raw
        .library
        .as_ref()
        .is_some_and(|l| l.as_os_str().is_empty())
    {
        problems.push(("library", "is empty".into()));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(EngineChoice {
        engine,
        manifest_decides: true,
        fallback: true,
        onnxruntime: OrtSettings {
            library: raw.library.clone(),
            providers,
        },
        budget: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(providers: &[&str]) -> RawOnnxruntime {
        RawOnnxruntime {
            library: None,
            providers: Some(providers.iter().map(|p| p.to_string()).collect()),
        }
    }

    #[test]
    fn defaults_are_tract_and_cpu() {
        let c = choice(None, &RawOnnxruntime::default()).unwrap();
        assert_eq!(c.engine, EngineKind::Tract);
        assert_eq!(c.onnxruntime.providers, vec![Provider::Cpu]);
        assert!(c.fallback && c.manifest_decides);
    }

    #[test]
    fn providers_keep_their_order() {
        let c = choice(Some("onnxruntime"), &raw(&["tensorrt", "cuda", "cpu"])).unwrap();
        assert_eq!(c.engine, EngineKind::Onnxruntime);
        assert_eq!(
            c.onnxruntime.providers,
            vec![Provider::Tensorrt, Provider::Cuda, Provider::Cpu]
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let problems = choice(Some("ort"), &raw(&["cuda", "npu", "cuda"])).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec!["engine", "providers", "providers"]);
        assert!(problems[1].1.contains("npu"));
        assert!(choice(None, &raw(&[])).is_err());
    }
}
