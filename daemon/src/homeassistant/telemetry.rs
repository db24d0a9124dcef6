//! What the Home Assistant sensors show (`P/N/ha/stats`): frames per
//! second, the last picture's latency, errors since start, presence and,
//! where the board has one, its temperature. Pure: the edge feeds it
//! events, controller input and counter readings with the time they were
//! taken, and publishes what `snapshot` returns.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// The retained stats message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Morph/live frames shown per second since the previous snapshot.
    pub fps: f64,
    /// From command to archived picture, of the newest picture.
    pub latency_ms: Option<f64>,
    /// Error events since the daemon started.
    pub errors: u64,
    pub images: u64,
    /// Any controller reports someone there.
    pub presence: bool,
    pub temperature_c: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    latency_ms: Option<f64>,
    errors: u64,
    images: u64,
    /// The last presence value per controller id.
    presence: BTreeMap<String, bool>,
    /// (when, frames counter) at the previous snapshot.
    last_frames: Option<(Instant, u64)>,
}

impl Telemetry {
    pub fn handle_generated(&mut self, latency_ms: f64) {
        self.latency_ms = Some(latency_ms);
        self.images += 1;
    }

    pub fn handle_error(&mut self) {
        self.errors += 1;
    }

    /// A controller's presence input; true when it changed what is shown.
    pub fn handle_presence(&mut self, controller: &str, present: bool) -> bool {
        let before = self.present();
        self.presence.insert(controller.to_string(), present);
        before != self.present()
    }

    /// A controller went offline: its presence no longer counts.
    pub fn handle_controller_gone(&mut self, controller: &str) -> bool {
        let before = self.present();
        self.presence.remove(controller);
        before != self.present()
    }

    fn present(&self) -> bool {
        self.presence.values().any(|p| *p)
    }

    /// The stats now, given the frames counter read at `now`.
    pub fn snapshot(&mut self, frames: u64, now: Instant, temperature_c: Option<f64>) -> Stats {
        let fps = match self.last_frames {
            Some((then, before)) if now > then => {
                let seconds = now.duration_since(then).as_secs_f64();
                (frames.saturating_sub(before) as f64 / seconds * 10.0).round() / 10.0
            }
            Some((_, _)) | None => 0.0,
        };
        self.last_frames = Some((now, frames));
        Stats {
            fps,
            latency_ms: self.latency_ms.map(|l| (l * 10.0).round() / 10.0),
            errors: self.errors,
            images: self.images,
            presence: self.present(),
            temperature_c,
        }
    }
}

/// A board temperature from a `/sys/class/thermal/*/temp` reading
/// (millidegrees Celsius).
pub fn parse_millidegrees(text: &str) -> Option<f64> {
    let m: i64 = text.trim().parse().ok()?;
    let c = m as f64 / 1000.0;
    (-50.0..=150.0).contains(&c).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn frame_rate_is_the_rate_between_snapshots() {
        let t0 = Instant::now();
        let mut t = Telemetry::default();
        assert_eq!(t.snapshot(100, t0, None).fps, 0.0);
        assert_eq!(t.snapshot(150, t0 + Duration::from_secs(10), None).fps, 5.0);
        assert_eq!(t.snapshot(150, t0 + Duration::from_secs(20), None).fps, 0.0);
    }

    #[test]
    fn latency_errors_and_presence() {
        let mut t = Telemetry::default();
        let now = Instant::now();
        let s = t.snapshot(0, now, Some(41.5));
        assert_eq!((s.latency_ms, s.errors, s.presence), (None, 0, false));
        t.handle_generated(123.456);
        t.handle_error();
        assert!(t.handle_presence("ctl-1", true));
        assert!(!t.handle_presence("ctl-2", true));
        assert!(!t.handle_presence("ctl-1", false));
        let s = t.snapshot(0, now, None);
        assert_eq!(
            (s.latency_ms, s.errors, s.images, s.presence),
            (Some(123.5), 1, 1, true)
        );
        assert!(t.handle_controller_gone("ctl-2"));
        assert!(!t.snapshot(0, now, None).presence);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["latency_ms"], 123.5);
        assert!(json["temperature_c"].is_null());
    }

    #[test]
    fn thermal_zone_readings() {
        assert_eq!(parse_millidegrees("47250\n"), Some(47.25));
        assert_eq!(parse_millidegrees("garbage"), None);
        assert_eq!(parse_millidegrees("-273000"), None);
    }
}
