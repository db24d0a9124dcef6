//! The piece's state as the world sees it (docs/contract.md: retained
//! `P/N/state`, and `/api/state`): current model, mode, seed, params, the
//! loaded models, the version, and the newest picture. The shape is the
//! protocol's; what the daemon adds is how its own facts fill it in.

use easel_engine::ModelInfo;
pub use easel_protocol::state::{
    BoardStatus, CredentialsStatus, Installed, Latest, ModelSummary, Params, ScheduleStatus,
    SourceStatus, State,
};

/// The state of a piece that has loaded nothing yet.
pub fn initial(node: &str) -> State {
    State::new(node, env!("CARGO_PKG_VERSION"))
}

/// How a loaded model appears in `state.models`.
pub fn summary(info: &ModelInfo) -> ModelSummary {
    ModelSummary {
        name: info.name.clone(),
        kind: info.kind.to_string(),
        sha256: info.sha256.clone(),
        width: info.width,
        height: info.height,
        engine: Some(info.engine.to_string()),
        provider: Some(info.provider.to_string()),
        warnings: info.warnings.clone(),
    }
}
