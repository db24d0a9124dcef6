//! The morph scheduler: a continuous slerp walk from seed to seed, one
//! segment every `seconds`, sampled at a target frame rate. Pure: the
//! caller passes the time in and renders what it is told.
//!
//! Where the walk is depends only on the clock, never on how many frames
//! were rendered: a slow engine shows fewer frames of the same motion.
//!
//! Frames are planned in batches, each frame with the instant it is to be
//! shown: the engine renders a batch (one frame per core at a time) while
//! the previous batch is shown, so inference never waits for display and
//! display never waits for inference. One batch is in flight at most;
//! frame slots that pass while the engine is behind are *dropped*
//! (counted), never queued, so the picture never lags behind the clock.

use std::time::{Duration, Instant};

/// The frame to render: the latents of `from` and `to`, mixed at `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FramePlan {
    pub from: u64,
    pub to: u64,
    pub t: f32,
}

/// A planned frame and when to show it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shot {
    pub plan: FramePlan,
    pub at: Instant,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Render these frames (one batch) and show each at its instant.
    Render(Vec<Shot>),
    /// Nothing to do before this instant.
    Wait(Instant),
}

/// What the engine can do, as the caller measured it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Engine time per frame at full throughput (all lanes busy).
    pub cost: Duration,
    /// Frames the engine renders at once.
    pub lanes: usize,
    /// About how long one batch should take: long enough to keep every
    /// lane busy, short enough that a visitor's command (which waits for
    /// the batch in progress) stays quick.
    pub window: Duration,
    /// Most frames in one batch.
    pub max: usize,
}

#[derive(Debug, Clone)]
pub struct Morph {
    from: u64,
    to: u64,
    segment_start: Instant,
    seconds: f32,
    fps: f32,
    /// When the next frame slot opens.
    next_slot: Instant,
    in_flight: bool,
    dropped: u64,
    /// Picks the seeds of the walk; deterministic for a given start seed.
    seeds: easel_engine::seed::SplitMix64,
}

impl Morph {
    /// A walk starting at `seed` (the picture on screen) at `now`.
    pub fn new(seed: u64, now: Instant, seconds: f32, fps: f32) -> Morph {
        let mut seeds = easel_engine::seed::SplitMix64::new(seed ^ 0x6d6f_7270_6821);
        let to = seeds.next_u64() & easel_engine::seed::MAX_RANDOM_SEED;
        Morph {
            from: seed,
            to,
            segment_start: now,
            seconds,
            fps,
            next_slot: now,
            in_flight: false,
            dropped: 0,
            seeds,
        }
    }

    /// New rates take effect from the next frame, without a jump.
    pub fn set_rates(&mut self, now: Instant, seconds: f32, fps: f32) {
        if (seconds, fps) == (self.seconds, self.fps) {
            return;
        }
        let t = self.position(now);
        self.seconds = seconds;
        // Keep the current position within the segment.
        // `checked_sub`: an `Instant` before the clock's origin (a board
        // up for less than the segment) would panic.
        self.segment_start = now
            .checked_sub(Duration::from_secs_f32(t * seconds.max(0.0)))
            .unwrap_or(now);
        self.fps = fps;
    }

    /// Time between shown frames: the target rate's, or the engine's when
    /// it cannot keep up (or when the target is "as fast as possible").
    fn interval(&self, pace: &Pace) -> Duration {
        let target = if self.fps > 0.0 {
            Duration::from_secs_f64(1.0 / self.fps as f64)
        } else {
            Duration::ZERO
        };
        target.max(pace.cost).max(Duration::from_micros(50))
    }

    fn position(&self, now: Instant) -> f32 {
        if self.seconds <= 0.0 {
            return 1.0;
        }
        (now.saturating_duration_since(self.segment_start)
            .as_secs_f32()
            / self.seconds)
            .min(1.0)
    }

    /// Frame slots skipped so far because the engine was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The seed the walk is heading to.
    pub fn target(&self) -> u64 {
        self.to
    }

    /// Asks what to do at `now`. After a `Render`, call [`Morph::handle_done`]
    /// when the batch is back; until then `tick` only waits.
    pub fn tick(&mut self, now: Instant, pace: &Pace) -> Step {
        let interval = self.interval(pace);
        if self.in_flight {
            return Step::Wait(now + interval.max(Duration::from_millis(1)));
        }
        let engine_bound = interval == pace.cost;
        let by_window = (pace.window.as_secs_f64() / interval.as_secs_f64()) as usize;
        let lanes = if engine_bound { pace.lanes } else { 1 };
        let count = by_window.max(lanes).clamp(1, pace.max.max(1));
        // Planned ahead by the time the batch takes to render, and asked
        // for up to one window early: a batch that comes back a little
        // before it is due must not leave the engine idle.
        let lead = pace.cost * count as u32;
        if now + lead + pace.window < self.next_slot {
            return Step::Wait(self.next_slot - lead - pace.window);
        }
        // Whole slots that pass before this batch can be ready are dropped;
        // the batch is shown as soon as it can be.
        let first = self.next_slot.max(now + lead);
        if self.fps > 0.0 {
            let late = first.duration_since(self.next_slot);
            self.dropped += (late.as_secs_f64() / interval.as_secs_f64()) as u64;
        }
        let shots = (0..count)
            .map(|i| {
                let at = first + interval * i as u32;
                Shot {
                    plan: self.plan_at(at),
                    at,
                }
            })
            .collect();
        self.next_slot = first + interval * count as u32;
        self.in_flight = true;
        Step::Render(shots)
    }

    /// The walk's frame at instant `at` (not before any earlier call's).
    fn plan_at(&mut self, at: Instant) -> FramePlan {
        // Segments that ended move the walk on to the next seed.
        while self.seconds > 0.0
            && at
                .saturating_duration_since(self.segment_start)
                .as_secs_f32()
                >= self.seconds
        {
            self.segment_start += Duration::from_secs_f32(self.seconds);
            self.from = self.to;
            self.to = self.seeds.next_u64() & easel_engine::seed::MAX_RANDOM_SEED;
        }
        FramePlan {
            from: self.from,
            to: self.to,
            t: self.position(at),
        }
    }

    /// The batch asked for last has been rendered (or failed).
    pub fn handle_done(&mut self) {
        self.in_flight = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A fast engine: 1 ms a frame, one lane, small batches.
    const FAST: Pace = Pace {
        cost: Duration::from_millis(1),
        lanes: 1,
        window: Duration::from_millis(1),
        max: 32,
    };

    fn render(step: Step) -> Vec<Shot> {
        match step {
            Step::Render(shots) => shots,
            Step::Wait(_) => panic!("expected frames, got {step:?}"),
        }
    }

    fn one(step: Step) -> FramePlan {
        let shots = render(step);
        assert_eq!(shots.len(), 1, "{shots:?}");
        shots[0].plan
    }

    #[test]
    fn walks_at_the_target_rate() {
        let t0 = Instant::now();
        let mut m = Morph::new(7, t0, 1.0, 10.0);
        let first = render(m.tick(t0, &FAST));
        assert_eq!((first[0].plan.from, first[0].plan.t), (7, 0.001));
        assert_eq!(first[0].at, t0 + ms(1), "shown when it can be ready");
        m.handle_done();
        // The next slot (101 ms) is asked for 1 ms (the batch's cost) plus
        // 1 ms (the window) ahead.
        assert_eq!(m.tick(t0 + ms(30), &FAST), Step::Wait(t0 + ms(99)));
        let second = render(m.tick(t0 + ms(100), &FAST));
        assert_eq!(second[0].at, t0 + ms(101));
        assert!((second[0].plan.t - 0.101).abs() < 1e-4);
        assert_eq!(m.dropped(), 0);
    }

    #[test]
    fn frames_are_dropped_not_queued_when_the_engine_is_slow() {
        let t0 = Instant::now();
        let mut m = Morph::new(1, t0, 10.0, 10.0);
        render(m.tick(t0, &FAST));
        // The engine takes 350 ms: the slots at 101 and 201 ms pass unseen.
        assert!(
            matches!(m.tick(t0 + ms(200), &FAST), Step::Wait(_)),
            "one batch in flight at most"
        );
        m.handle_done();
        let late = render(m.tick(t0 + ms(350), &FAST));
        assert_eq!(late[0].at, t0 + ms(351));
        assert!(
            (late[0].plan.t - 0.0351).abs() < 1e-4,
            "the walk follows the clock, not the frame count"
        );
        assert_eq!(m.dropped(), 2);
    }

    #[test]
    fn fps_zero_fills_the_window_and_every_lane() {
        let t0 = Instant::now();
        let pace = Pace {
            cost: ms(2),
            lanes: 2,
            window: ms(20),
            max: 32,
        };
        let mut m = Morph::new(1, t0, 10.0, 0.0);
        let shots = render(m.tick(t0, &pace));
        assert_eq!(shots.len(), 10);
        // Shown back to back, at the engine's pace, from when it is ready.
        for (i, shot) in shots.iter().enumerate() {
            assert_eq!(shot.at, t0 + ms(20 + 2 * i as u64));
        }
        m.handle_done();
        // The next batch, asked for when this one is back, follows on.
        let next = render(m.tick(t0 + ms(20), &pace));
        assert_eq!(next[0].at, t0 + ms(40));
        assert_eq!(m.dropped(), 0);
        // A slow model still gets one frame per lane.
        let slow = Pace {
            cost: ms(300),
            ..pace
        };
        let mut m = Morph::new(1, t0, 10.0, 0.0);
        assert_eq!(render(m.tick(t0, &slow)).len(), 2);
    }

    #[test]
    fn segments_chain_seed_to_seed() {
        let t0 = Instant::now();
        let mut m = Morph::new(5, t0, 1.0, 4.0);
        let target = m.target();
        one(m.tick(t0, &FAST));
        m.handle_done();
        let next = one(m.tick(t0 + ms(1249), &FAST));
        assert_eq!(next.from, target, "the old target is the new start");
        assert_ne!(next.to, target);
        assert!((next.t - 0.25).abs() < 1e-4, "{next:?}");
        // Same start seed, same walk.
        assert_eq!(Morph::new(5, t0, 1.0, 4.0).target(), target);
    }

    #[test]
    fn changing_speed_keeps_the_position() {
        let t0 = Instant::now();
        let mut m = Morph::new(5, t0, 10.0, 0.0);
        one(m.tick(t0, &FAST));
        m.handle_done();
        m.set_rates(t0 + ms(5000), 2.0, 0.0);
        let p = render(m.tick(t0 + ms(5000), &FAST))[0].plan;
        assert!((p.t - 0.5).abs() < 1e-3, "{p:?}");
    }
}
