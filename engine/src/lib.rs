//! easel's generator engine: model packages in, pictures with provenance
//! out. The daemon and the tools both render through it, so a picture made
//! on a laptop with `easel generate` is the one a piece would show.
//!
//! - `package`: a model folder (`easel.toml` + ONNX): manifest, sha256.
//! - `seed`: seeds and latents (portable RNG, normal sampling, slerp).
//! - `fit`: a picture to a model's input size (centre crop or letterbox).
//! - `pixels`: tensor <-> RGB conversions and the CPPN coordinate grid.
//! - `picture`: RGB pictures and PNG with provenance (tEXt, XMP).
//! - `budget`: the memory one model may take, sized before any engine
//!   allocates (hostile graphs are refused, naming the tensor).
//! - `activity`: the worker's heartbeat (idle, loading, running; since when).
//! - `queue`: the bounded, latest-wins job queue (pure).
//! - `worker`: the inference thread and the [`Engine`] handle on it.
//! - the engine seam: `load` (the checks every engine makes before it
//!   sees a model), `tensors` (a request's input tensors and the output's
//!   pixels, for every engine), `model` (the [`Model`] surface the worker
//!   renders through), `engines` (which engine runs a model, and the
//!   fallback to tract), and the two engines behind it: `tract` (pure
//!   Rust, the default) and `onnxruntime` (its shared library, opened at
//!   run time where a board has it). Nothing outside the two engine
//!   modules names an engine's types, except the worker's tract executor.
//!
//! Nothing here knows about MQTT, HTTP or the daemon's config file; the
//! errors are this crate's own (`PackageError`, `LoadError`, `RunError`).

pub mod activity;
pub mod budget;
pub mod engines;
pub mod fit;
pub mod load;
pub mod model;
pub mod onnxruntime;
pub mod package;
pub mod picture;
pub mod pixels;
pub mod queue;
pub mod seed;
pub mod tensors;
pub mod tract;
pub mod worker;

pub use activity::{Heartbeat, Work};
pub use budget::Budget;
pub use engines::{EngineChoice, EngineKind, OrtSettings, Provider};
pub use load::LoadError;
pub use model::{Model, ModelInfo, RunError, Source};
pub use queue::{Lane, Urgency};
pub use worker::{BatchRequest, Engine, RenderRequest, Rendered, Stream};
