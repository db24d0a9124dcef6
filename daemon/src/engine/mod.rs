//! The generator engine: ONNX models through tract.
//!
//! - `load`: read and check an ONNX graph against its manifest; fix shapes.
//! - `model`: a loaded model's plans; seed/latent/picture in, pixels out.
//! - `pixels`: tensor <-> RGB conversions and the CPPN coordinate grid.
//! - `queue`: the bounded, latest-wins job queue (pure).
//! - `worker`: the inference thread and the `Engine` handle on it.
//!
//! Nothing here knows about MQTT, HTTP or files other than packages.

pub mod load;
pub mod model;
pub mod pixels;
pub mod queue;
pub mod worker;

pub use load::LoadError;
pub use model::{Model, ModelInfo, RunError, Source};
pub use queue::{Lane, Urgency};
pub use worker::{BatchRequest, Engine, RenderRequest, Rendered, Stream};
