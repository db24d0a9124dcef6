//! An analog knob or fader: smoothing, deadband, throttling, heartbeat.
//!
//! `Knob::update(raw, now_ms)` takes one ADC reading (0..=`full_scale`) and
//! returns a level in 0..=1 only when it is worth telling the daemon:
//!
//! - readings are smoothed with an exponential moving average (`smoothing`,
//!   the weight of the new reading), which tames ADC noise;
//! - a new level is reported only when the smoothed value is more than
//!   `deadband` away from the last reported one: that hysteresis is what
//!   keeps a knob resting between two values from flickering between them;
//! - the ends snap: within `deadband / 2` of 0 or 1 reports exactly 0 or 1,
//!   so a visitor can always reach the extremes;
//! - at most one report per `min_interval_ms` (the latest value wins);
//! - the current level is repeated every `heartbeat_ms` (0 = never), so a
//!   daemon that restarted learns where the knob is.
//!
//! Levels are rounded to 1/1000 to keep payloads short. No IO here.

/// Knob settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnobConfig {
    /// Largest raw reading (4095 for a 12-bit ADC).
    pub full_scale: u16,
    /// EMA weight of each new reading, in (0, 1]; 1 = no smoothing.
    pub smoothing: f32,
    /// Smallest change of level worth reporting, in 0..1.
    pub deadband: f32,
    pub min_interval_ms: u64,
    pub heartbeat_ms: u64,
}

impl Default for KnobConfig {
    fn default() -> Self {
        KnobConfig {
            full_scale: 4095,
            smoothing: 0.2,
            deadband: 0.01,
            min_interval_ms: 30,
            heartbeat_ms: 60_000,
        }
    }
}

/// Filter and reporter for one analog input.
#[derive(Debug, Clone)]
pub struct Knob {
    config: KnobConfig,
    smoothed: Option<f32>,
    reported: Option<f32>,
    reported_at: u64,
    /// A level that passed the deadband but waits for the throttle.
    due: bool,
}

impl Knob {
    pub fn new(config: KnobConfig) -> Knob {
        Knob {
            config,
            smoothed: None,
            reported: None,
            reported_at: 0,
            due: false,
        }
    }

    /// The current smoothed level, if any reading was taken.
    pub fn level(&self) -> Option<f32> {
        self.smoothed.map(|s| self.snap(s))
    }

    /// Feeds one raw reading.
    pub fn update(&mut self, raw: u16, now: u64) -> Option<f32> {
        let x = raw.min(self.config.full_scale) as f32 / self.config.full_scale.max(1) as f32;
        let s = match self.smoothed {
            None => x,
            Some(prev) => prev + self.config.smoothing * (x - prev),
        };
        self.smoothed = Some(s);
        let level = self.snap(s);
        match self.reported {
            None => self.due = true,
            Some(last) if abs(level - last) > self.config.deadband => self.due = true,
            // reaching an end exactly is always worth a report
            Some(last) if (level == 0.0 || level == 1.0) && level != last => self.due = true,
            _ => {}
        }
        self.tick(now)
    }

    /// Emits a throttled or heartbeat report when one is due.
    pub fn tick(&mut self, now: u64) -> Option<f32> {
        let level = self.level()?;
        let since = now.saturating_sub(self.reported_at);
        let first = self.reported.is_none();
        let heartbeat = self.config.heartbeat_ms > 0 && since >= self.config.heartbeat_ms;
        if (self.due && (first || since >= self.config.min_interval_ms)) || heartbeat {
            self.due = false;
            self.reported = Some(level);
            self.reported_at = now;
            return Some(level);
        }
        None
    }

    fn snap(&self, s: f32) -> f32 {
        let half = self.config.deadband / 2.0;
        if s <= half {
            0.0
        } else if s >= 1.0 - half {
            1.0
        } else {
            round3(s)
        }
    }
}

fn abs(x: f32) -> f32 {
    if x < 0.0 { -x } else { x }
}

fn round3(x: f32) -> f32 {
    ((x * 1000.0 + 0.5) as u32) as f32 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds readings 5 ms apart from t=0; returns (time, level) reports.
    fn run(config: KnobConfig, readings: &[u16]) -> heapless::Vec<(u64, f32), 64> {
        let mut knob = Knob::new(config);
        let mut out = heapless::Vec::new();
        for (i, &r) in readings.iter().enumerate() {
            let now = i as u64 * 5;
            if let Some(v) = knob.update(r, now) {
                out.push((now, v)).unwrap();
            }
        }
        out
    }

    /// Deterministic noise in -amp..=amp around `centre`.
    fn noisy(centre: u16, amp: i32, n: usize) -> heapless::Vec<u16, 256> {
        let mut seed = 0x1234_5678u32;
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let off = (seed % (2 * amp as u32 + 1)) as i32 - amp;
                (centre as i32 + off) as u16
            })
            .collect()
    }

    #[test]
    fn first_reading_is_reported() {
        assert_eq!(run(KnobConfig::default(), &[2048]).as_slice(), &[(0, 0.5)]);
    }

    #[test]
    fn noise_within_the_deadband_produces_nothing_after_the_first_report() {
        // ±20 counts is ±0.5 % of full scale; the first report is one noisy
        // reading, the smoothed level stays within the band around it
        let got = run(KnobConfig::default(), &noisy(2048, 20, 200));
        assert_eq!(got.len(), 1, "{got:?}");
        // even unsmoothed, peak-to-peak noise under 1 % never passes a 1 % deadband
        let raw = KnobConfig {
            smoothing: 1.0,
            ..KnobConfig::default()
        };
        assert_eq!(run(raw, &noisy(2048, 16, 200)).len(), 1);
    }

    #[test]
    fn a_turn_reports_throttled_steps_and_settles() {
        let mut readings: heapless::Vec<u16, 128> = heapless::Vec::new();
        for i in 0..=40u16 {
            readings.push(i * 100).unwrap(); // 0 .. 4000 over 200 ms
        }
        for _ in 0..40 {
            readings.push(4000).unwrap();
        }
        let got = run(KnobConfig::default(), &readings);
        // reports are spaced by at least the throttle interval
        for w in got.windows(2) {
            assert!(w[1].0 - w[0].0 >= 30, "{got:?}");
            assert!(w[1].1 > w[0].1, "monotonic {got:?}");
        }
        let last = got.last().unwrap().1;
        assert!((last - 4000.0 / 4095.0).abs() <= 0.011, "{got:?}");
    }

    #[test]
    fn ends_snap_to_exact_zero_and_one() {
        let mut readings: heapless::Vec<u16, 256> = heapless::Vec::new();
        readings.extend((0..60).map(|_| 4090));
        readings.extend((0..60).map(|_| 5));
        let got = run(KnobConfig::default(), &readings);
        assert_eq!(got.first().unwrap().1, 1.0);
        assert_eq!(got.last().unwrap().1, 0.0);
    }

    #[test]
    fn heartbeat_repeats_an_unchanged_level() {
        let config = KnobConfig {
            heartbeat_ms: 100,
            ..KnobConfig::default()
        };
        let mut knob = Knob::new(config);
        assert_eq!(knob.update(1024, 0), Some(0.25));
        assert_eq!(knob.tick(99), None);
        assert_eq!(knob.tick(100), Some(0.25));
        assert_eq!(knob.update(1024, 150), None);
        assert_eq!(knob.tick(200), Some(0.25));
    }
}
