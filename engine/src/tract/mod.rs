//! The tract side of the engine: what prepares an ONNX graph for tract
//! and runs it. onnxruntime sits beside it (`crate::onnxruntime`) behind
//! the same `crate::Model` surface; the checks both need are shared
//! (`crate::load`).
//!
//! - `load`: tract's checks (operators, knobs), weight folding, fixed
//!   shapes, optimizing.
//! - `model`: a loaded model's plans, lanes and runs.
//! - `fuse`: easel's own fast paths, put into tract's graph at load.

pub mod fuse;
pub mod load;
pub mod model;
