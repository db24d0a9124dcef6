//! Attract mode: when nobody has touched the piece for a while, a still
//! picture turns into a slow morph to draw people in; presence (or any
//! command) wakes it. Pure: activity and time in, "attract or not" out.

use std::time::{Duration, Instant};

/// `[attract]` settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttractConfig {
    /// Idle time before attracting; `None` = never.
    pub after: Option<Duration>,
    /// Morph speed while attracting.
    pub seconds: f32,
    pub fps: f32,
}

impl Default for AttractConfig {
    fn default() -> AttractConfig {
        AttractConfig {
            after: Some(Duration::from_secs(300)),
            seconds: 30.0,
            fps: 4.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attract {
    after: Option<Duration>,
    last_activity: Instant,
}

impl Attract {
    pub fn new(config: &AttractConfig, now: Instant) -> Attract {
        Attract {
            after: config.after,
            last_activity: now,
        }
    }

    /// Someone did something.
    pub fn handle_activity(&mut self, now: Instant) {
        self.last_activity = self.last_activity.max(now);
    }

    /// Whether the piece should be attracting at `now`.
    pub fn is_idle(&self, now: Instant) -> bool {
        self.after
            .is_some_and(|after| now.saturating_duration_since(self.last_activity) >= after)
    }

    /// When `is_idle` will next turn true, if ever.
    pub fn idle_at(&self) -> Option<Instant> {
        self.after.map(|after| self.last_activity + after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idles_after_quiet_and_wakes_on_activity() {
        let t0 = Instant::now();
        let config = AttractConfig {
            after: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let mut a = Attract::new(&config, t0);
        assert!(!a.is_idle(t0 + Duration::from_secs(59)));
        assert!(a.is_idle(t0 + Duration::from_secs(60)));
        a.handle_activity(t0 + Duration::from_secs(61));
        assert!(!a.is_idle(t0 + Duration::from_secs(62)));
        assert_eq!(a.idle_at(), Some(t0 + Duration::from_secs(121)));
        let never = Attract::new(
            &AttractConfig {
                after: None,
                ..config
            },
            t0,
        );
        assert!(!never.is_idle(t0 + Duration::from_secs(1_000_000)));
    }
}

/// `[attract]` as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttract {
    /// Seconds without input before attracting; 0 = never.
    pub after_seconds: Option<f32>,
    pub seconds: Option<f32>,
    pub fps: Option<f32>,
}

impl AttractConfig {
    /// Problems are `(key, message)` pairs for the config's issue list.
    pub fn from_raw(raw: &RawAttract) -> Result<AttractConfig, Vec<(&'static str, String)>> {
        let d = AttractConfig::default();
        let mut problems = Vec::new();
        let mut check = |key: &'static str, v: Option<f32>, default: f32| match v {
            Some(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => v,
            Some(v) => {
                problems.push((key, format!("{v} is not within 0..=86400")));
                default
            }
            None => default,
        };
        let after = check("after_seconds", raw.after_seconds, 300.0);
        let config = AttractConfig {
            after: (after > 0.0).then(|| Duration::from_secs_f32(after)),
            seconds: check("seconds", raw.seconds, d.seconds),
            fps: check("fps", raw.fps, d.fps),
        };
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }
}
