#![no_std]
//! easel's wire contract in code: MQTT topic names, the availability
//! payloads, controller input messages and the palette format.
//!
//! The daemon, the tools and the controller firmware all build and parse
//! topics and payloads through this crate, so they cannot drift apart.
//! It is `no_std` without an allocator and does no IO: topics are written
//! into any `core::fmt::Write` sink and parsed from borrowed strings.

pub mod input;
pub mod palette;
pub mod status;
pub mod topic;

pub use input::{ButtonEvent, InputMessage, Signal};
pub use palette::{Palette, Rgb};
pub use status::Availability;
pub use topic::{Route, Topic};

/// Default topic prefix (`mqtt.prefix`).
pub const DEFAULT_PREFIX: &str = "easel";

/// True when `name` is a valid node or controller id: `[a-z0-9_-]{1,32}`.
pub fn is_valid_node_id(name: &str) -> bool {
    is_slug(name, 32)
}

/// True when `name` is a valid model name: `[a-z0-9_-]{1,64}`.
pub fn is_valid_model_name(name: &str) -> bool {
    is_slug(name, 64)
}

fn is_slug(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(is_valid_node_id("gallery-1"));
        assert!(is_valid_node_id("a_b"));
        assert!(!is_valid_node_id(""));
        assert!(!is_valid_node_id("Gallery"));
        assert!(!is_valid_node_id("a/b"));
        assert!(!is_valid_node_id("../x"));
        assert!(!is_valid_node_id(&"x".repeat(33)));
        assert!(is_valid_model_name(&"x".repeat(64)));
        assert!(!is_valid_model_name(&"x".repeat(65)));
    }
}
