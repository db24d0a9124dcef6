//! The tract side of the engine: what reads an ONNX file into tract's
//! graph and runs it. Kept apart so a second inference engine can sit
//! beside it behind the same `Model` surface.
//!
//! - `load`: read and check an ONNX graph against its manifest; fix shapes.
//! - `model`: a loaded model's plans; seed/latent/picture in, pixels out.

pub mod load;
pub mod model;
