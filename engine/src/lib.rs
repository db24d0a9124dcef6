//! easel's generator engine: model packages in, pictures with provenance
//! out. The daemon and the tools both render through it, so a picture made
//! on a laptop with `easel generate` is the one a piece would show.
//!
//! - `package`: a model folder (`easel.toml` + ONNX): manifest, sha256.
//! - `seed`: seeds and latents (portable RNG, normal sampling, slerp).
//! - `fit`: a picture to a model's input size (centre crop or letterbox).
//! - `pixels`: tensor <-> RGB conversions and the CPPN coordinate grid.
//! - `picture`: RGB pictures and PNG with provenance (tEXt, XMP).
//! - `activity`: the worker's heartbeat (idle, loading, running; since when).
//! - `queue`: the bounded, latest-wins job queue (pure).
//! - `worker`: the inference thread and the [`Engine`] handle on it.
//! - `tract`: everything that knows tract: reading and checking an ONNX
//!   graph (`tract::load`), a loaded model's plans (`tract::model`). It is
//!   the seam where another inference engine goes: nothing outside it
//!   names a tract type, except the worker's thread-pool executor.
//!
//! Nothing here knows about MQTT, HTTP or the daemon's config file; the
//! errors are this crate's own (`PackageError`, `LoadError`, `RunError`).

pub mod activity;
pub mod fit;
pub mod package;
pub mod picture;
pub mod pixels;
pub mod queue;
pub mod seed;
pub mod tract;
pub mod worker;

pub use activity::{Heartbeat, Work};
pub use queue::{Lane, Urgency};
pub use tract::load::{self, LoadError};
pub use tract::model::{self, Model, ModelInfo, RunError, Source};
pub use worker::{BatchRequest, Engine, RenderRequest, Rendered, Stream};
