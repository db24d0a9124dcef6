//! `[health]`: when the board earns a `/healthz` warning (low disk, heat).
//! Validated values only; reading the board is `crate::board`'s.

use crate::board::health::Thresholds;
use serde::Deserialize;

/// `[health]` as serde reads it (unknown keys rejected).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    /// Warn below this many MiB free for the data folder (default 1024; 0 = never).
    pub min_free_disk_mb: Option<u64>,
}

/// The second stage of `[health]`; on failure every (key, problem) pair.
pub fn thresholds(raw: &RawHealth) -> Result<Thresholds, Vec<(&'static str, String)>> {
    let d = Thresholds::default();
    let mut problems = Vec::new();
    let min_free_disk_bytes = match raw.min_free_disk_mb {
        None => d.min_free_disk_bytes,
        // A petabyte: beyond any board's disk, a typo rather than a wish.
        Some(mb) if mb > 1 << 30 => {
            problems.push(("min_free_disk_mb", format!("{mb} is more than 2^30 MiB")));
            d.min_free_disk_bytes
        }
        Some(mb) => mb << 20,
    };
    if problems.is_empty() {
        Ok(Thresholds {
            min_free_disk_bytes,
        })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_limits() {
        assert_eq!(thresholds(&RawHealth::default()), Ok(Thresholds::default()));
        let t = thresholds(&RawHealth {
            min_free_disk_mb: Some(0),
        })
        .unwrap();
        assert_eq!(t.min_free_disk_bytes, 0, "0 turns the warning off");
        assert!(
            thresholds(&RawHealth {
                min_free_disk_mb: Some(u64::MAX)
            })
            .is_err()
        );
    }
}
