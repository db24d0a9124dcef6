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
//!   can fake): thermal zones, the CPU's hwmon sensor, the Raspberry Pi
//!   firmware's throttling flags.
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
    /// Why the daemon cannot write in its data folder (a read-only
    /// filesystem, no permission), found before a picture fails to save.
    pub unwritable: Option<String>,
    /// `/proc/meminfo`.
    pub memory: Option<Memory>,
    /// The daemon's own resident memory (`VmRSS`).
    pub resident_bytes: Option<u64>,
    /// Every temperature sensor found: thermal zones, and the CPU's hwmon
    /// sensor on boards whose CPU has no thermal zone (AMD mini PCs).
    pub sensors: Vec<Sensor>,
    /// Raspberry Pi firmware's `get_throttled` flags ([`Throttled`]).
    pub throttled: Option<u32>,
}

/// The kernel's view of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub total_bytes: u64,
    /// `MemAvailable`: what can be had without swapping.
    pub available_bytes: u64,
}

/// One temperature sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensor {
    /// Where it was read: `thermal_zone0`, `hwmon2`.
    pub id: String,
    /// What it measures, as the kernel names it: `cpu-thermal` (Pi),
    /// `CPU-therm` / `tj-thermal` (Jetson), `x86_pkg_temp`, `k10temp`.
    pub kind: String,
    pub celsius: f32,
}

/// The bits of the Raspberry Pi firmware's throttling flags (the same
/// word `vcgencmd get_throttled` prints).
pub struct Throttled;

impl Throttled {
    pub const UNDER_VOLTAGE: u32 = 1 << 0;
    pub const FREQUENCY_CAPPED: u32 = 1 << 1;
    pub const THROTTLED: u32 = 1 << 2;
    pub const SOFT_TEMPERATURE_LIMIT: u32 = 1 << 3;
    /// The same four conditions "has occurred since boot" are these,
    /// shifted left by this much.
    pub const SINCE_BOOT_SHIFT: u32 = 16;
    /// (bit "now", name) for each condition.
    pub const CONDITIONS: [(u32, &'static str); 4] = [
        (Throttled::UNDER_VOLTAGE, "under_voltage"),
        (Throttled::FREQUENCY_CAPPED, "frequency_capped"),
        (Throttled::THROTTLED, "throttled"),
        (Throttled::SOFT_TEMPERATURE_LIMIT, "soft_temperature_limit"),
    ];
}

/// Space on one filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disk {
    /// Free to an unprivileged process (statvfs `f_bavail`): what the
    /// daemon can still write, not counting blocks reserved for root.
    pub free_bytes: u64,
    pub total_bytes: u64,
}
