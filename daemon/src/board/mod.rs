//! The board the daemon runs on, as a technician watches it: free disk
//! under the data folder, uptime, memory, CPU temperature and throttling
//! where the board exposes them (docs/install.md, "Board health").
//!
//! A piece runs for months unattended; what ends it is rarely the model.
//! It is an SD card filled by the archive, a fan that stopped, a power
//! supply too weak for a Pi under load. Those show here first: in
//! `/metrics` (every reading), `/healthz` (warnings: the daemon keeps
//! serving, restarting it would not help) and `state.board`.
//!
//! - `probe`: the only IO: statvfs, `/proc`, `/sys` (under a root the tests
//!   can fake).
//! - `health`: pure: thresholds, warnings, what `state.board` says, and
//!   when it has moved enough to be republished.
//! - `gauges`: the Prometheus gauges, set from a reading at scrape time.
//! - `sampler`: the task that reads the board every few seconds.

pub mod gauges;
pub mod health;
pub mod probe;
pub mod sampler;

/// One reading of the board. `None` (or empty) where the board does not
/// expose something or it could not be read: absent, never made up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Board {
    /// The filesystem that holds the data folder (archive, deploys).
    pub disk: Option<Disk>,
}

/// Space on one filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disk {
    /// Free to an unprivileged process (statvfs `f_bavail`): what the
    /// daemon can still write, not counting blocks reserved for root.
    pub free_bytes: u64,
    pub total_bytes: u64,
}
