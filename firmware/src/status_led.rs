//! The status LED: one glance tells a technician what the controller
//! thinks of the world.
//!
//! | pattern | meaning |
//! |---|---|
//! | steady on | connected to the broker, daemon online |
//! | short blip every 2 s | connected to the broker, daemon not online |
//! | slow blink (1 Hz) | broker unreachable, retrying |
//! | fast blink (5 Hz) | error needing a person: broker refused us, bad config |
//!
//! `StatusLed::level(now)` says whether the LED is lit; phases restart when
//! the pattern changes so a change is visible at once. No IO here.

/// What the LED shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    Off,
    Steady,
    Blip,
    SlowBlink,
    FastBlink,
}

impl StatusPattern {
    /// (on ms, period ms); `None` for constant patterns.
    const fn timing(self) -> Option<(u64, u64)> {
        match self {
            StatusPattern::Off | StatusPattern::Steady => None,
            StatusPattern::Blip => Some((80, 2000)),
            StatusPattern::SlowBlink => Some((500, 1000)),
            StatusPattern::FastBlink => Some((100, 200)),
        }
    }
}

/// The LED pattern player.
#[derive(Debug, Clone)]
pub struct StatusLed {
    pattern: StatusPattern,
    since: u64,
}

impl StatusLed {
    pub fn new(pattern: StatusPattern, now: u64) -> StatusLed {
        StatusLed {
            pattern,
            since: now,
        }
    }

    pub fn pattern(&self) -> StatusPattern {
        self.pattern
    }

    /// Switches pattern; keeps the phase when it is unchanged.
    pub fn set(&mut self, pattern: StatusPattern, now: u64) {
        if pattern != self.pattern {
            self.pattern = pattern;
            self.since = now;
        }
    }

    /// Whether the LED is lit at `now`.
    pub fn level(&self, now: u64) -> bool {
        match self.pattern.timing() {
            None => self.pattern == StatusPattern::Steady,
            Some((on, period)) => now.saturating_sub(self.since) % period < on,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StatusPattern::*;

    #[test]
    fn pattern_table() {
        let cases: &[(StatusPattern, &[(u64, bool)])] = &[
            (Off, &[(0, false), (500, false)]),
            (Steady, &[(0, true), (12_345, true)]),
            (
                Blip,
                &[
                    (0, true),
                    (79, true),
                    (80, false),
                    (1999, false),
                    (2000, true),
                ],
            ),
            (
                SlowBlink,
                &[
                    (0, true),
                    (499, true),
                    (500, false),
                    (999, false),
                    (1000, true),
                ],
            ),
            (
                FastBlink,
                &[
                    (0, true),
                    (99, true),
                    (100, false),
                    (200, true),
                    (350, false),
                ],
            ),
        ];
        for &(pattern, samples) in cases {
            let led = StatusLed::new(pattern, 1000);
            for &(dt, lit) in samples {
                assert_eq!(led.level(1000 + dt), lit, "{pattern:?} at +{dt}");
            }
        }
    }

    #[test]
    fn a_change_restarts_the_phase_and_the_same_pattern_does_not() {
        let mut led = StatusLed::new(SlowBlink, 0);
        led.set(SlowBlink, 700);
        assert!(!led.level(700));
        led.set(FastBlink, 700);
        assert!(led.level(700));
    }
}
