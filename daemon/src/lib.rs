//! easeld, the installation daemon, as a library: the binary in `main.rs`
//! only parses arguments and calls [`run`]; tests and the `easel` tools use
//! the same pieces (the engine above all) from here.

pub mod config;
pub mod engine;
pub mod package;
pub mod picture;
pub mod seed;
