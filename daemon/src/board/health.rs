//! What a reading of the board means: the warnings `/healthz` lists, the
//! summary `state.board` carries, and when that summary has moved enough
//! to be worth republishing. Pure: readings in, verdicts out, no IO and
//! no clock, so every threshold is tested with made-up readings.
//!
//! Board trouble is a warning, never a failure of `/healthz`: a supervisor
//! restarting the daemon frees no disk and cools no CPU, and the piece
//! keeps working until it cannot.

use super::{Board, Sensor, Throttled};
use crate::piece::state::BoardStatus;

/// `[health]`: when the board earns a warning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Warn when less than this is free under the data folder.
    pub min_free_disk_bytes: u64,
    /// Warn when the CPU is hotter than this.
    pub max_temperature_c: f32,
}

/// Default `[health] min_free_disk_mb`: room for a few deployed packages
/// (256 MiB each at most) and the archive's churn.
pub const DEFAULT_MIN_FREE_DISK_MB: u64 = 1024;

/// Default `[health] max_temperature_c`: below where the boards throttle
/// themselves (a Pi 5 starts at 80 °C and caps hard at 85 °C; Jetsons
/// and x86 parts later), so the warning comes before the slowdown.
pub const DEFAULT_MAX_TEMPERATURE_C: f32 = 80.0;

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            min_free_disk_bytes: DEFAULT_MIN_FREE_DISK_MB << 20,
            max_temperature_c: DEFAULT_MAX_TEMPERATURE_C,
        }
    }
}

const MIB: u64 = 1 << 20;

/// Whether a sensor measures the CPU, by the kernel's name for it: `cpu`
/// anywhere (`cpu-thermal` on a Pi 5 and a Jetson Orin, `CPU-therm` on a
/// Jetson Nano), Intel's `x86_pkg_temp` and `coretemp`, AMD's `k10temp`
/// and `zenpower`, and a Jetson's `tj-thermal` (the hottest junction).
/// Not the GPU's, the Wi-Fi's, an NVMe's, or a Jetson Nano's `PMIC-Die`
/// (which reads a fixed 100 °C).
pub fn is_cpu(kind: &str) -> bool {
    let k = kind.to_ascii_lowercase();
    k.contains("cpu")
        || [
            "x86_pkg_temp",
            "coretemp",
            "k10temp",
            "zenpower",
            "tj-thermal",
        ]
        .contains(&k.as_str())
}

/// The CPU's temperature: the hottest CPU sensor; with none, the ACPI
/// zone (`acpitz`, a mini PC's board sensor near the CPU); else unknown.
pub fn cpu_temperature(sensors: &[Sensor]) -> Option<&Sensor> {
    let hottest = |keep: fn(&str) -> bool| {
        sensors
            .iter()
            .filter(|s| keep(&s.kind))
            .max_by(|a, b| a.celsius.total_cmp(&b.celsius))
    };
    hottest(is_cpu).or_else(|| hottest(|k| k == "acpitz"))
}

/// What each "now" flag of the Raspberry Pi firmware means for a
/// technician.
fn throttled_now(flags: u32) -> impl Iterator<Item = &'static str> {
    [
        (
            Throttled::UNDER_VOLTAGE,
            "under-voltage now: the power supply is too weak for the board",
        ),
        (
            Throttled::FREQUENCY_CAPPED,
            "CPU frequency capped now (heat or power)",
        ),
        (Throttled::THROTTLED, "CPU throttled now (heat or power)"),
        (
            Throttled::SOFT_TEMPERATURE_LIMIT,
            "soft temperature limit active now",
        ),
    ]
    .into_iter()
    .filter(move |(bit, _)| flags & bit != 0)
    .map(|(_, what)| what)
}

/// Every warning this reading earns, in a fixed order.
pub fn warnings(board: &Board, limits: &Thresholds) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(why) = &board.unwritable {
        out.push(format!(
            "the data folder is not writable ({why}): new pictures and deploys cannot be saved"
        ));
    }
    if let Some(disk) = board.disk
        && disk.free_bytes < limits.min_free_disk_bytes
    {
        out.push(format!(
            "low disk space: {} MiB free for the data folder, under the {} MiB of [health] min_free_disk_mb",
            disk.free_bytes / MIB,
            limits.min_free_disk_bytes / MIB
        ));
    }
    if let Some(cpu) = cpu_temperature(&board.sensors)
        && cpu.celsius > limits.max_temperature_c
    {
        out.push(format!(
            "CPU temperature {:.1} °C ({} {}) above the {:.0} °C of [health] max_temperature_c",
            cpu.celsius, cpu.id, cpu.kind, limits.max_temperature_c
        ));
    }
    if let Some(flags) = board.throttled {
        out.extend(
            throttled_now(flags).map(|what| format!("Raspberry Pi firmware: {what} ({flags:#x})")),
        );
    }
    out
}

/// `state.board` for this reading.
pub fn status(board: &Board, limits: &Thresholds) -> BoardStatus {
    BoardStatus {
        disk_free_bytes: board.disk.map(|d| d.free_bytes),
        disk_total_bytes: board.disk.map(|d| d.total_bytes),
        memory_available_bytes: board.memory.map(|m| m.available_bytes),
        memory_total_bytes: board.memory.map(|m| m.total_bytes),
        // Tenths: a reading's noise below that says nothing.
        temperature_c: cpu_temperature(&board.sensors).map(|s| (s.celsius * 10.0).round() / 10.0),
        throttled: board.throttled.map(|f| format!("{f:#x}")),
        warnings: warnings(board, limits),
    }
}

/// Whether `new` differs from the published `old` enough to publish it
/// again: any change in the warnings or the throttling flags, a degree of
/// temperature, or 1% of a disk's or the memory's size. Like a sensor's
/// delta filter: the retained state (and every page and controller
/// watching it) does not churn with each reading's noise.
pub fn worth_publishing(old: Option<&BoardStatus>, new: &BoardStatus) -> bool {
    let Some(old) = old else { return true };
    let moved = |a: Option<u64>, b: Option<u64>, total: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => a.abs_diff(b) * 100 >= total.unwrap_or(u64::MAX / 100).max(1),
        (a, b) => a.is_some() != b.is_some(),
    };
    old.warnings != new.warnings
        || old.throttled != new.throttled
        || old.disk_total_bytes != new.disk_total_bytes
        || old.memory_total_bytes != new.memory_total_bytes
        || moved(
            old.disk_free_bytes,
            new.disk_free_bytes,
            new.disk_total_bytes,
        )
        || moved(
            old.memory_available_bytes,
            new.memory_available_bytes,
            new.memory_total_bytes,
        )
        || match (old.temperature_c, new.temperature_c) {
            (Some(a), Some(b)) => (a - b).abs() >= 1.0,
            (a, b) => a.is_some() != b.is_some(),
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{Disk, Memory};

    fn board(free_mb: u64) -> Board {
        Board {
            disk: Some(Disk {
                free_bytes: free_mb * MIB,
                total_bytes: 10_000 * MIB,
            }),
            ..Board::default()
        }
    }

    fn sensor(id: &str, kind: &str, celsius: f32) -> Sensor {
        Sensor {
            id: id.into(),
            kind: kind.into(),
            celsius,
        }
    }

    fn hot(sensors: Vec<Sensor>) -> Vec<String> {
        let board = Board {
            sensors,
            ..Board::default()
        };
        warnings(&board, &Thresholds::default())
    }

    #[test]
    fn an_unwritable_data_folder_warns() {
        let board = Board {
            unwritable: Some("/d: Read-only file system (os error 30)".into()),
            ..board(5000)
        };
        let w = warnings(&board, &Thresholds::default());
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("not writable") && w[0].contains("Read-only"),
            "{w:?}"
        );
    }

    #[test]
    fn low_disk_warns_below_the_threshold_only() {
        let limits = Thresholds {
            min_free_disk_bytes: 500 * MIB,
            ..Thresholds::default()
        };
        assert!(warnings(&board(500), &limits).is_empty());
        let w = warnings(&board(499), &limits);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("499 MiB free"), "{w:?}");
        assert!(w[0].contains("500 MiB"), "{w:?}");
        assert!(
            warnings(&Board::default(), &limits).is_empty(),
            "no reading, no warning"
        );
    }

    #[test]
    fn the_cpu_is_its_hottest_cpu_sensor_else_acpi_else_unknown() {
        let jetson = [
            sensor("thermal_zone0", "cpu-thermal", 48.5),
            sensor("thermal_zone1", "gpu-thermal", 70.0),
            sensor("thermal_zone5", "PMIC-Die", 100.0),
            sensor("thermal_zone8", "tj-thermal", 52.0),
        ];
        assert_eq!(cpu_temperature(&jetson).unwrap().kind, "tj-thermal");
        let mini_pc = [
            sensor("thermal_zone0", "acpitz", 40.0),
            sensor("thermal_zone1", "iwlwifi_1", 45.0),
        ];
        assert_eq!(cpu_temperature(&mini_pc).unwrap().kind, "acpitz");
        assert!(cpu_temperature(&[sensor("hwmon0", "nvme", 50.0)]).is_none());
        assert!(is_cpu("CPU-therm") && is_cpu("x86_pkg_temp") && is_cpu("k10temp"));
    }

    #[test]
    fn hot_warns_above_the_threshold_only() {
        assert!(hot(vec![sensor("thermal_zone0", "cpu-thermal", 80.0)]).is_empty());
        let w = hot(vec![sensor("thermal_zone0", "cpu-thermal", 80.1)]);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("80.1 °C") && w[0].contains("cpu-thermal") && w[0].contains("80 °C"),
            "{w:?}"
        );
        assert!(
            hot(vec![sensor("thermal_zone1", "gpu-thermal", 95.0)]).is_empty(),
            "a hot GPU is not the CPU"
        );
        assert!(hot(vec![]).is_empty(), "no sensor, no warning");
    }

    #[test]
    fn throttling_warns_for_what_happens_now_not_since_boot() {
        let flags = |f| {
            let board = Board {
                throttled: Some(f),
                ..Board::default()
            };
            warnings(&board, &Thresholds::default())
        };
        assert!(flags(0).is_empty());
        assert!(flags(0x50000).is_empty(), "occurred since boot only");
        let w = flags(0x50005);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("under-voltage now") && w[0].contains("0x50005"));
        assert!(w[1].contains("throttled now"));
        assert_eq!(flags(0xf).len(), 4);
    }

    #[test]
    fn the_status_carries_the_reading_and_its_warnings() {
        let s = status(&board(10), &Thresholds::default());
        assert_eq!(s.disk_free_bytes, Some(10 * MIB));
        assert_eq!(s.disk_total_bytes, Some(10_000 * MIB));
        assert_eq!(s.warnings.len(), 1);
        assert_eq!(s.temperature_c, None);
        let pi = Board {
            memory: Some(Memory {
                total_bytes: 8 << 30,
                available_bytes: 6 << 30,
            }),
            sensors: vec![sensor("thermal_zone0", "cpu-thermal", 61.249)],
            throttled: Some(0x50000),
            ..board(5000)
        };
        let s = status(&pi, &Thresholds::default());
        assert_eq!(s.memory_available_bytes, Some(6 << 30));
        assert_eq!(s.temperature_c, Some(61.2));
        assert_eq!(s.throttled.as_deref(), Some("0x50000"));
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn small_moves_are_not_republished() {
        let limits = Thresholds::default();
        let first = status(&board(5000), &limits);
        assert!(worth_publishing(None, &first));
        assert!(!worth_publishing(Some(&first), &first));
        // 1% of 10 000 MiB is 100 MiB.
        assert!(!worth_publishing(
            Some(&first),
            &status(&board(4901), &limits)
        ));
        assert!(worth_publishing(
            Some(&first),
            &status(&board(4900), &limits)
        ));
        // A new warning always is, however small the move.
        let near = status(&board(1024), &limits);
        let under = status(&board(1023), &limits);
        assert!(worth_publishing(Some(&near), &under));
        let mut warm = first.clone();
        warm.temperature_c = Some(50.0);
        let mut warmer = warm.clone();
        warmer.temperature_c = Some(50.9);
        assert!(!worth_publishing(Some(&warm), &warmer));
        warmer.temperature_c = Some(51.0);
        assert!(worth_publishing(Some(&warm), &warmer));
    }
}
