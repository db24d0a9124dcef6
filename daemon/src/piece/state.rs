//! The piece's state as the world sees it (CONTRACT.md: retained
//! `P/N/state`, and `/api/state`): current model, mode, seed, params, the
//! loaded models, the version, and the newest picture.

use super::command::Mode;
use crate::engine::ModelInfo;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct State {
    pub node: String,
    pub version: String,
    /// The current model; `None` only while nothing could be loaded.
    pub model: Option<String>,
    pub mode: Mode,
    /// Seed of the newest picture, when it came from one.
    pub seed: Option<u64>,
    pub params: Params,
    pub models: Vec<ModelSummary>,
    pub latest: Option<Latest>,
    /// Nobody has been around for a while: a slow morph is running.
    pub attract: bool,
    /// Names of the saved scenes.
    pub scenes: Vec<String>,
    /// Deployed models and their versions (`data_dir/deploy`), by name.
    pub installed: Vec<super::deploy::Installed>,
    /// The frame source for image models (`source` in the config): whether
    /// it works, and the warning when it does not.
    pub source: Option<crate::source::SourceStatus>,
}

/// Live parameters a technician or a knob can change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Params {
    /// Morph mode: seconds from one seed to the next.
    pub seconds: f32,
    /// Target frame rate in morph/live modes; 0 = as fast as possible.
    pub fps: f32,
}

impl Params {
    /// Applies the values given, keeps the others.
    pub fn set(&mut self, seconds: Option<f32>, fps: Option<f32>) {
        if let Some(seconds) = seconds {
            self.seconds = seconds;
        }
        if let Some(fps) = fps {
            self.fps = fps;
        }
    }
}

impl Default for Params {
    fn default() -> Params {
        Params {
            seconds: 8.0,
            fps: 12.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    pub name: String,
    pub kind: String,
    pub sha256: String,
    pub width: u32,
    pub height: u32,
}

impl From<&ModelInfo> for ModelSummary {
    fn from(info: &ModelInfo) -> ModelSummary {
        ModelSummary {
            name: info.name.clone(),
            kind: info.kind.to_string(),
            sha256: info.sha256.clone(),
            width: info.width,
            height: info.height,
        }
    }
}

/// The newest archived picture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latest {
    pub id: String,
    pub url: String,
    pub model: String,
    pub seed: Option<u64>,
    pub width: u32,
    pub height: u32,
}

impl State {
    pub fn new(node: &str) -> State {
        State {
            node: node.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            model: None,
            mode: Mode::Still,
            seed: None,
            params: Params::default(),
            models: Vec::new(),
            latest: None,
            attract: false,
            scenes: Vec::new(),
            installed: Vec::new(),
            source: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("state always serialises")
    }
}
