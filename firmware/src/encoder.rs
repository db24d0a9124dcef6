//! A quadrature rotary encoder: decoding, detents and rate limiting.
//!
//! `Encoder::update(a, b, now_ms)` takes the two debounced-or-not contact
//! levels. Decoding uses the full transition table, so contact bounce on
//! one channel (A toggling while B holds) moves the count back and forth
//! and cancels out; a jump of both channels at once is an illegal
//! transition (a missed sample) and is ignored rather than guessed.
//!
//! A detent is `steps_per_detent` valid transitions (4 on most mechanical
//! encoders). Steps are accumulated and a detent counted only when a whole
//! one has been crossed, which gives hysteresis at the resting position.
//! Detents are reported as a signed `delta` at most every `min_interval_ms`
//! so a fast spin becomes a few `{"delta": 5}` messages, not a flood.
//! No IO here.

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Valid quadrature transitions per mechanical detent (1, 2 or 4).
    pub steps_per_detent: i8,
    /// Minimum spacing of reported deltas, in ms.
    pub min_interval_ms: u64,
    /// Reverse the direction (swapped wiring).
    pub reversed: bool,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            steps_per_detent: 4,
            min_interval_ms: 40,
            reversed: false,
        }
    }
}

/// Step for (previous state << 2 | new state), state = A << 1 | B.
/// Clockwise: 00 -> 01 -> 11 -> 10 -> 00 is +1 each.
const TRANSITIONS: [i8; 16] = [
    0, 1, -1, 0, // from 00: to 00, 01, 10, 11(illegal)
    -1, 0, 0, 1, // from 01
    1, 0, 0, -1, // from 10
    0, -1, 1, 0, // from 11
];

/// Decoder and reporter for one encoder.
#[derive(Debug, Clone)]
pub struct Encoder {
    config: EncoderConfig,
    state: Option<u8>,
    /// Steps not yet amounting to a detent.
    steps: i8,
    /// Detents not yet reported.
    pending: i32,
    last_report: Option<u64>,
}

impl Encoder {
    pub fn new(config: EncoderConfig) -> Encoder {
        Encoder {
            config,
            state: None,
            steps: 0,
            pending: 0,
            last_report: None,
        }
    }

    /// Feeds one sample of both channels; returns a delta when one is due.
    pub fn update(&mut self, a: bool, b: bool, now: u64) -> Option<i32> {
        let new = (a as u8) << 1 | b as u8;
        if let Some(old) = self.state {
            let step = TRANSITIONS[(old << 2 | new) as usize];
            self.steps += if self.config.reversed { -step } else { step };
            let per = self.config.steps_per_detent.max(1);
            if self.steps >= per {
                self.steps -= per;
                self.pending += 1;
            } else if self.steps <= -per {
                self.steps += per;
                self.pending -= 1;
            }
        }
        self.state = Some(new);
        self.tick(now)
    }

    /// Reports accumulated detents once the rate limit allows.
    pub fn tick(&mut self, now: u64) -> Option<i32> {
        if self.pending == 0 {
            return None;
        }
        if let Some(last) = self.last_report
            && now.saturating_sub(last) < self.config.min_interval_ms
        {
            return None;
        }
        self.last_report = Some(now);
        Some(core::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One clockwise detent from rest (A=B=1 on common encoders' detent).
    const CW: [(bool, bool); 4] = [(true, false), (false, false), (false, true), (true, true)];
    const CCW: [(bool, bool); 4] = [(false, true), (false, false), (true, false), (true, true)];

    /// Feeds `samples` 1 ms apart starting at `t0` and then ticks until
    /// `until`, collecting reported deltas.
    fn run(
        enc: &mut Encoder,
        t0: u64,
        samples: &[(bool, bool)],
        until: u64,
    ) -> heapless::Vec<(u64, i32), 16> {
        let mut out = heapless::Vec::new();
        let mut now = t0;
        for &(a, b) in samples {
            if let Some(d) = enc.update(a, b, now) {
                out.push((now, d)).unwrap();
            }
            now += 1;
        }
        while now <= until {
            if let Some(d) = enc.tick(now) {
                out.push((now, d)).unwrap();
            }
            now += 1;
        }
        out
    }

    fn at_rest() -> Encoder {
        let mut e = Encoder::new(EncoderConfig::default());
        assert_eq!(e.update(true, true, 0), None);
        e
    }

    #[test]
    fn scenarios() {
        type Samples = &'static [(bool, bool)];
        type Case = (&'static str, Samples, &'static [(u64, i32)]);
        let cases: &[Case] = &[
            ("one detent clockwise", &CW, &[(13, 1)]),
            ("one detent counter-clockwise", &CCW, &[(13, -1)]),
            (
                "bounce on A at the first step cancels out",
                &[
                    (true, false),
                    (true, true),
                    (true, false),
                    (true, true),
                    (true, false),
                    (false, false),
                    (false, true),
                    (true, true),
                ],
                &[(17, 1)],
            ),
            (
                "bounce around the resting position never reports",
                &[
                    (true, false),
                    (true, true),
                    (false, true),
                    (true, true),
                    (true, false),
                    (true, true),
                ],
                &[],
            ),
            (
                "illegal double transitions are ignored",
                &[(false, false), (true, true), (false, false), (true, true)],
                &[],
            ),
            (
                "half a detent is not a detent",
                &[(true, false), (false, false)],
                &[],
            ),
        ];
        for &(name, samples, want) in cases {
            let mut e = at_rest();
            let got = run(&mut e, 10, samples, 200);
            assert_eq!(got.as_slice(), want, "{name}");
        }
    }

    #[test]
    fn fast_spin_is_rate_limited_and_nothing_is_lost() {
        let mut e = at_rest();
        let mut samples: heapless::Vec<(bool, bool), 64> = heapless::Vec::new();
        for _ in 0..10 {
            samples.extend_from_slice(&CW).unwrap();
        }
        let got = run(&mut e, 10, &samples, 300);
        // first detent reported at once, the rest batched per 40 ms
        assert_eq!(got.as_slice(), &[(13, 1), (53, 9)]);
        assert_eq!(got.iter().map(|&(_, d)| d).sum::<i32>(), 10);
    }

    #[test]
    fn reversed_wiring() {
        let mut e = Encoder::new(EncoderConfig {
            reversed: true,
            ..EncoderConfig::default()
        });
        e.update(true, true, 0);
        assert_eq!(run(&mut e, 10, &CW, 100).as_slice(), &[(13, -1)]);
    }
}
