//! easel's wire contract in code: MQTT topic names, the availability
//! payloads, controller input messages, the palette format, the model
//! transfer and package layout, and (with the `std` feature) every JSON
//! payload the daemon and the tools exchange: commands, events, state.
//!
//! The daemon, the tools and the controller firmware all build and parse
//! topics and payloads through this crate, so they cannot drift apart; no
//! one else hand-writes or hand-parses them. It does no IO.
//!
//! Without features (the firmware's build) it is `no_std` without an
//! allocator: topics are written into any `core::fmt::Write` sink and
//! parsed from borrowed strings; the package header is read from borrowed
//! bytes. The `std` feature adds the payload types that own `String`s and
//! `Vec`s (`event`, `state`, the structs of `command`, `deploy`
//! and `package`) and their `to_json`/`parse` helpers (serde_json).
#![cfg_attr(not(feature = "std"), no_std)]

pub mod broker;
pub mod command;
pub mod deploy;
#[cfg(feature = "std")]
pub mod event;
pub mod input;
pub mod package;
pub mod palette;
#[cfg(feature = "std")]
pub mod state;
pub mod status;
pub mod topic;

pub use broker::{BrokerAddr, BrokerAddrError};
pub use command::{Mode, SceneAction};
pub use deploy::{Part as DeployPart, PartError as DeployPartError};
#[cfg(feature = "std")]
pub use event::{Event, EventError};
pub use input::{ButtonEvent, InputMessage, Signal};
pub use package::{Header as PackageHeader, HeaderError as PackageHeaderError};
pub use palette::{Palette, Rgb};
#[cfg(feature = "std")]
pub use state::State;
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
