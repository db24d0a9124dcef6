//! Opening hours (`[schedule]`): outside them the piece is closed — the
//! page shows black, the engine is idle (no morph, live or attract mode;
//! visitors' inputs do nothing), the controllers' LED strips go dark (a
//! black palette), and an optional command puts the display to standby.
//! It opens again on time.
//!
//! `hours.rs` decides (pure, clock injected); `task.rs` keeps time, tells
//! the piece and runs the hooks.

pub mod hours;
pub mod task;

/// `[schedule]` after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleConfig {
    pub schedule: hours::Schedule,
    /// The zone's name as `state` reports it.
    pub zone_name: String,
    pub hooks: Hooks,
}

/// Commands run when the piece opens and closes (program and arguments;
/// empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    pub on_open: Vec<String>,
    pub on_close: Vec<String>,
}
