//! Presence: is a visitor in front of the piece?
//!
//! Two sources, one answer (`Signal::Presence`), each reported only when
//! it changes:
//!
//! - [`Pir`]: a passive-infrared motion detector's digital output. Motion
//!   means present at once; absence is declared only after `hold_ms`
//!   without motion, because a PIR goes quiet when a visitor stands still.
//! - [`Distance`]: a ranging sensor in millimetres. Present when nearer
//!   than `near_mm` for `confirm_ms`, absent when farther than `far_mm` for
//!   `confirm_ms`; the gap between the two thresholds (hysteresis) and the
//!   confirmation time keep a visitor standing at the threshold, or a noisy
//!   reading, from toggling the answer. A missing reading (`None`: out of
//!   range, no echo) counts as far.
//!
//! No IO here.

/// PIR settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PirConfig {
    /// Quiet time after the last motion before declaring absence.
    pub hold_ms: u64,
}

impl Default for PirConfig {
    fn default() -> Self {
        PirConfig { hold_ms: 10_000 }
    }
}

/// A PIR presence detector.
#[derive(Debug, Clone)]
pub struct Pir {
    config: PirConfig,
    present: bool,
    last_motion: u64,
}

impl Pir {
    pub fn new(config: PirConfig) -> Pir {
        Pir {
            config,
            present: false,
            last_motion: 0,
        }
    }

    pub fn is_present(&self) -> bool {
        self.present
    }

    /// Feeds the PIR output level; returns the new presence on a change.
    pub fn update(&mut self, motion: bool, now: u64) -> Option<bool> {
        if motion {
            self.last_motion = now;
            if !self.present {
                self.present = true;
                return Some(true);
            }
            return None;
        }
        self.tick(now)
    }

    /// Declares absence once the hold time has passed.
    pub fn tick(&mut self, now: u64) -> Option<bool> {
        if self.present && now.saturating_sub(self.last_motion) >= self.config.hold_ms {
            self.present = false;
            return Some(false);
        }
        None
    }
}

/// Distance sensor settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistanceConfig {
    pub near_mm: u16,
    /// Must be greater than `near_mm`.
    pub far_mm: u16,
    pub confirm_ms: u64,
}

impl Default for DistanceConfig {
    fn default() -> Self {
        DistanceConfig {
            near_mm: 800,
            far_mm: 1200,
            confirm_ms: 300,
        }
    }
}

/// Presence from a distance sensor, with near/far hysteresis.
#[derive(Debug, Clone)]
pub struct Distance {
    config: DistanceConfig,
    present: bool,
    /// Since when readings have been on the other side of the threshold.
    crossing_since: Option<u64>,
}

impl Distance {
    pub fn new(config: DistanceConfig) -> Distance {
        Distance {
            config,
            present: false,
            crossing_since: None,
        }
    }

    pub fn is_present(&self) -> bool {
        self.present
    }

    /// Feeds one reading; returns the new presence on a change.
    pub fn update(&mut self, mm: Option<u16>, now: u64) -> Option<bool> {
        let crossing = match (self.present, mm) {
            (false, Some(d)) => d < self.config.near_mm,
            (false, None) => false,
            (true, Some(d)) => d > self.config.far_mm,
            (true, None) => true,
        };
        if !crossing {
            self.crossing_since = None;
            return None;
        }
        let since = *self.crossing_since.get_or_insert(now);
        if now.saturating_sub(since) >= self.config.confirm_ms {
            self.present = !self.present;
            self.crossing_since = None;
            return Some(self.present);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pir_table() {
        // (time, motion) -> expected change
        let script: &[(u64, bool, Option<bool>)] = &[
            (0, false, None),
            (100, true, Some(true)),
            (200, false, None),
            (5_000, true, None), // still present, hold restarts
            (5_100, false, None),
            (14_999, false, None),
            (15_000, false, Some(false)), // hold counts from the last motion
            (20_000, false, None),
            (20_001, true, Some(true)),
        ];
        let mut pir = Pir::new(PirConfig::default());
        for &(t, motion, want) in script {
            assert_eq!(pir.update(motion, t), want, "t={t}");
        }
    }

    #[test]
    fn distance_table() {
        // readings every 100 ms: (mm, expected change)
        let script: &[(Option<u16>, Option<bool>)] = &[
            (Some(2000), None),
            (Some(900), None), // between thresholds: nothing
            (Some(790), None), // near: starts confirming
            (Some(780), None),
            (Some(770), None),
            (Some(760), Some(true)), // 300 ms near
            (Some(1100), None),      // between: still present
            (Some(1300), None),      // far: starts confirming
            (Some(1000), None),      // back between: confirmation reset
            (Some(1300), None),
            (None, None), // no echo counts as far
            (Some(1250), None),
            (Some(1250), Some(false)),
            (Some(799), None),  // a single near spike...
            (Some(1500), None), // ...is noise
            (Some(1500), None),
            (Some(1500), None),
            (Some(1500), None),
        ];
        let mut d = Distance::new(DistanceConfig::default());
        for (i, &(mm, want)) in script.iter().enumerate() {
            assert_eq!(d.update(mm, i as u64 * 100), want, "step {i}: {mm:?}");
        }
        assert!(!d.is_present());
    }
}
