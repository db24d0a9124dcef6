//! What a reading of the board means: the warnings `/healthz` lists, the
//! summary `state.board` carries, and when that summary has moved enough
//! to be worth republishing. Pure: readings in, verdicts out, no IO and
//! no clock, so every threshold is tested with made-up readings.
//!
//! Board trouble is a warning, never a failure of `/healthz`: a supervisor
//! restarting the daemon frees no disk and cools no CPU, and the piece
//! keeps working until it cannot.

use super::Board;
use crate::piece::state::BoardStatus;

/// `[health]`: when the board earns a warning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Warn when less than this is free under the data folder.
    pub min_free_disk_bytes: u64,
}

/// Default `[health] min_free_disk_mb`: room for a few deployed packages
/// (256 MiB each at most) and the archive's churn.
pub const DEFAULT_MIN_FREE_DISK_MB: u64 = 1024;

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            min_free_disk_bytes: DEFAULT_MIN_FREE_DISK_MB << 20,
        }
    }
}

const MIB: u64 = 1 << 20;

/// Every warning this reading earns, in a fixed order.
pub fn warnings(board: &Board, limits: &Thresholds) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(disk) = board.disk
        && disk.free_bytes < limits.min_free_disk_bytes
    {
        out.push(format!(
            "low disk space: {} MiB free for the data folder, under the {} MiB of [health] min_free_disk_mb",
            disk.free_bytes / MIB,
            limits.min_free_disk_bytes / MIB
        ));
    }
    out
}

/// `state.board` for this reading.
pub fn status(board: &Board, limits: &Thresholds) -> BoardStatus {
    BoardStatus {
        disk_free_bytes: board.disk.map(|d| d.free_bytes),
        disk_total_bytes: board.disk.map(|d| d.total_bytes),
        memory_available_bytes: None,
        memory_total_bytes: None,
        temperature_c: None,
        throttled: None,
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
    use crate::board::Disk;

    fn board(free_mb: u64) -> Board {
        Board {
            disk: Some(Disk {
                free_bytes: free_mb * MIB,
                total_bytes: 10_000 * MIB,
            }),
        }
    }

    #[test]
    fn low_disk_warns_below_the_threshold_only() {
        let limits = Thresholds {
            min_free_disk_bytes: 500 * MIB,
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
    fn the_status_carries_the_reading_and_its_warnings() {
        let s = status(&board(10), &Thresholds::default());
        assert_eq!(s.disk_free_bytes, Some(10 * MIB));
        assert_eq!(s.disk_total_bytes, Some(10_000 * MIB));
        assert_eq!(s.warnings.len(), 1);
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
