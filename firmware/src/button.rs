//! A push button: debouncing and the click grammar.
//!
//! `Button::update(pressed, now_ms)` takes the raw contact level (already
//! corrected for active-low wiring) and returns the gestures it completes:
//!
//! - `press` / `release` as soon as the debounced level changes, so an LED
//!   can answer the visitor at once;
//! - `long` once, while still held, when held for `long_ms`; its release
//!   produces no click;
//! - `double` on the release of a second press that started within
//!   `double_ms` of the first release;
//! - `click` when no second press came within `double_ms` (so a click is
//!   reported `double_ms` after its release; `double_ms = 0` reports it on
//!   release and never reports `double`).
//!
//! Debouncing is time based: a new level must hold for `debounce_ms` before
//! it is believed, so contact bounce shorter than that never reaches the
//! gesture logic whatever the sampling rate. Call `update` (or `tick`) at
//! least every few milliseconds; pending clicks and long presses are
//! decided there. No IO here.

use easel_protocol::ButtonEvent;
use heapless::Vec;

/// Gestures completed by one update (at most three: a pending click timing
/// out, then a press, and in theory a long; usually zero or one).
pub type Gestures = Vec<ButtonEvent, 3>;

/// Timing of the click grammar, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ButtonTimings {
    /// How long a level must be stable to count.
    pub debounce_ms: u64,
    /// Window after a release in which a second press makes a double click.
    pub double_ms: u64,
    /// Hold time for a long press.
    pub long_ms: u64,
}

impl Default for ButtonTimings {
    fn default() -> Self {
        ButtonTimings {
            debounce_ms: 10,
            double_ms: 250,
            long_ms: 800,
        }
    }
}

/// Where the click grammar stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    /// Held since `since`; `second` when this press follows a click release.
    Held {
        since: u64,
        second: bool,
        long_sent: bool,
    },
    /// Released a first short press at `at`; waiting for a second press.
    Released {
        at: u64,
    },
}

/// Debouncer plus click/double/long detection for one button.
#[derive(Debug, Clone)]
pub struct Button {
    timings: ButtonTimings,
    /// The believed (debounced) level.
    stable: bool,
    /// The last raw level and when it was first seen.
    raw: bool,
    raw_since: u64,
    phase: Phase,
}

impl Button {
    /// A released button.
    pub fn new(timings: ButtonTimings) -> Button {
        Button {
            timings,
            stable: false,
            raw: false,
            raw_since: 0,
            phase: Phase::Idle,
        }
    }

    /// The debounced level.
    pub fn is_pressed(&self) -> bool {
        self.stable
    }

    /// Feeds one raw sample taken at `now`.
    pub fn update(&mut self, pressed: bool, now: u64) -> Gestures {
        if pressed != self.raw {
            self.raw = pressed;
            self.raw_since = now;
        }
        let mut out = self.tick(now);
        if self.raw != self.stable && now.saturating_sub(self.raw_since) >= self.timings.debounce_ms
        {
            self.stable = self.raw;
            self.edge(self.stable, now, &mut out);
        }
        out
    }

    /// Advances time without a new sample: decides pending clicks and
    /// long presses.
    pub fn tick(&mut self, now: u64) -> Gestures {
        let mut out = Gestures::new();
        match self.phase {
            Phase::Released { at } if now.saturating_sub(at) >= self.timings.double_ms => {
                self.phase = Phase::Idle;
                push(&mut out, ButtonEvent::Click);
            }
            Phase::Held {
                since,
                second,
                long_sent: false,
            } if now.saturating_sub(since) >= self.timings.long_ms => {
                self.phase = Phase::Held {
                    since,
                    second,
                    long_sent: true,
                };
                push(&mut out, ButtonEvent::Long);
            }
            _ => {}
        }
        out
    }

    fn edge(&mut self, pressed: bool, now: u64, out: &mut Gestures) {
        if pressed {
            push(out, ButtonEvent::Press);
            let second = matches!(self.phase, Phase::Released { .. });
            self.phase = Phase::Held {
                since: now,
                second,
                long_sent: false,
            };
            return;
        }
        push(out, ButtonEvent::Release);
        self.phase = match self.phase {
            Phase::Held {
                long_sent: true, ..
            } => Phase::Idle,
            Phase::Held { second: true, .. } => {
                push(out, ButtonEvent::Double);
                Phase::Idle
            }
            Phase::Held { .. } if self.timings.double_ms == 0 => {
                push(out, ButtonEvent::Click);
                Phase::Idle
            }
            Phase::Held { .. } => Phase::Released { at: now },
            other => other,
        };
    }
}

fn push(out: &mut Gestures, event: ButtonEvent) {
    // Capacity 3 covers the worst case of one call (click timeout, press
    // or release, double/click); an overflow would be a logic error.
    let _ = out.push(event);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ButtonEvent::*;

    /// Replays (time, raw level) samples every millisecond between the
    /// listed changes, returning (time, gesture) pairs.
    fn replay(
        timings: ButtonTimings,
        script: &[(u64, bool)],
        until: u64,
    ) -> Vec<(u64, ButtonEvent), 32> {
        let mut button = Button::new(timings);
        let mut out = Vec::new();
        let mut level = false;
        let mut next = 0;
        for now in 0..=until {
            while next < script.len() && script[next].0 == now {
                level = script[next].1;
                next += 1;
            }
            for g in button.update(level, now) {
                out.push((now, g)).unwrap();
            }
        }
        out
    }

    struct Case {
        name: &'static str,
        script: &'static [(u64, bool)],
        until: u64,
        want: &'static [(u64, ButtonEvent)],
    }

    const CASES: &[Case] = &[
        Case {
            name: "clean click: press/release at once, click after the double window",
            script: &[(100, true), (200, false)],
            until: 1000,
            want: &[(110, Press), (210, Release), (460, Click)],
        },
        Case {
            name: "bounce shorter than debounce on press and release is ignored",
            script: &[
                (100, true),
                (102, false),
                (104, true),
                (105, false),
                (107, true),
                (300, false),
                (301, true),
                (303, false),
            ],
            until: 1000,
            want: &[(117, Press), (313, Release), (563, Click)],
        },
        Case {
            name: "glitches alone produce nothing",
            script: &[(100, true), (105, false), (300, true), (309, false)],
            until: 1000,
            want: &[],
        },
        Case {
            name: "held button: one long while held, no click on release",
            script: &[(100, true), (3000, false)],
            until: 4000,
            want: &[(110, Press), (910, Long), (3010, Release)],
        },
        Case {
            name: "double click well inside the window",
            script: &[(100, true), (150, false), (250, true), (300, false)],
            until: 1000,
            want: &[
                (110, Press),
                (160, Release),
                (260, Press),
                (310, Release),
                (310, Double),
            ],
        },
        Case {
            name: "second press one ms inside the window edge is a double",
            // first release debounced at 160; second press debounced at 409 (< 160 + 250)
            script: &[(100, true), (150, false), (399, true), (450, false)],
            until: 1000,
            want: &[
                (110, Press),
                (160, Release),
                (409, Press),
                (460, Release),
                (460, Double),
            ],
        },
        Case {
            name: "second press exactly at the window edge is two clicks",
            // the window [160, 410) has closed when the press is believed at 410
            script: &[(100, true), (150, false), (400, true), (450, false)],
            until: 1000,
            want: &[
                (110, Press),
                (160, Release),
                (410, Click),
                (410, Press),
                (460, Release),
                (710, Click),
            ],
        },
        Case {
            name: "mashing: press-release x3 gives double then click",
            script: &[
                (0, true),
                (40, false),
                (80, true),
                (120, false),
                (160, true),
                (200, false),
            ],
            until: 1000,
            want: &[
                (10, Press),
                (50, Release),
                (90, Press),
                (130, Release),
                (130, Double),
                (170, Press),
                (210, Release),
                (460, Click),
            ],
        },
        Case {
            name: "second press held long is a long, not a double",
            script: &[(0, true), (40, false), (80, true), (2000, false)],
            until: 2500,
            want: &[
                (10, Press),
                (50, Release),
                (90, Press),
                (890, Long),
                (2010, Release),
            ],
        },
    ];

    #[test]
    fn gesture_table() {
        for case in CASES {
            let got = replay(ButtonTimings::default(), case.script, case.until);
            assert_eq!(got.as_slice(), case.want, "{}", case.name);
        }
    }

    #[test]
    fn no_double_window_clicks_on_release() {
        let timings = ButtonTimings {
            double_ms: 0,
            ..ButtonTimings::default()
        };
        let got = replay(
            timings,
            &[(0, true), (40, false), (80, true), (120, false)],
            500,
        );
        assert_eq!(
            got.as_slice(),
            &[
                (10, Press),
                (50, Release),
                (50, Click),
                (90, Press),
                (130, Release),
                (130, Click)
            ]
        );
    }

    #[test]
    fn sparse_sampling_still_decides_with_tick() {
        let mut b = Button::new(ButtonTimings::default());
        assert!(b.update(true, 0).is_empty());
        assert_eq!(b.update(true, 20).as_slice(), &[Press]);
        assert_eq!(b.update(false, 60).as_slice(), &[] as &[ButtonEvent]);
        assert_eq!(b.update(false, 80).as_slice(), &[Release]);
        assert_eq!(b.tick(329).as_slice(), &[] as &[ButtonEvent]);
        assert_eq!(b.tick(330).as_slice(), &[Click]);
        assert!(!b.is_pressed());
    }
}
