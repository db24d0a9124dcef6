//! `[health]`: when the board earns a `/healthz` warning (low disk, a hot
//! CPU). Validated values only; reading the board is `crate::board`'s.

use crate::board::health::Thresholds;
use serde::Deserialize;

/// `[health]` as serde reads it (unknown keys rejected).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    /// Warn below this many MiB free for the data folder (default 1024; 0 = never).
    pub min_free_disk_mb: Option<u64>,
    /// Warn above this CPU temperature in °C (default 80).
    pub max_temperature_c: Option<f32>,
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
    let max_temperature_c = match raw.max_temperature_c {
        None => d.max_temperature_c,
        Some(c) if c.is_finite() && (20.0..=150.0).contains(&c) => c,
        Some(c) => {
            problems.push(("max_temperature_c", format!("{c} is not within 20..=150")));
            d.max_temperature_c
        }
    };
    if problems.is_empty() {
        Ok(Thresholds {
            min_free_disk_bytes,
            max_temperature_c,
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
            max_temperature_c: Some(70.0),
        })
        .unwrap();
        assert_eq!(t.min_free_disk_bytes, 0, "0 turns the warning off");
        assert_eq!(t.max_temperature_c, 70.0);
        let bad = thresholds(&RawHealth {
            min_free_disk_mb: Some(u64::MAX),
            max_temperature_c: Some(f32::NAN),
        })
        .unwrap_err();
        let keys: Vec<_> = bad.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["min_free_disk_mb", "max_temperature_c"]);
    }
}
