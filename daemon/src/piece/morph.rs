//! The morph scheduler: a continuous slerp walk from seed to seed, one
//! segment every `seconds`, sampled at a target frame rate. Pure: the
//! caller passes the time in and renders what it is told.
//!
//! Where the walk is depends only on the clock, never on how many frames
//! were rendered: a slow engine shows fewer frames of the same motion.
//! Only one frame is ever in flight; frame slots that pass while the
//! engine is busy are *dropped* (counted), never queued, so the picture
//! never lags behind the clock.

use std::time::{Duration, Instant};

/// The frame to render now: the latents of `from` and `to`, mixed at `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FramePlan {
    pub from: u64,
    pub to: u64,
    pub t: f32,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Render(FramePlan),
    /// Nothing to do before this instant.
    Wait(Instant),
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
    seeds: crate::seed::SplitMix64,
}

impl Morph {
    /// A walk starting at `seed` (the picture on screen) at `now`.
    pub fn new(seed: u64, now: Instant, seconds: f32, fps: f32) -> Morph {
        let mut seeds = crate::seed::SplitMix64::new(seed ^ 0x6d6f_7270_6821);
        let to = seeds.next_u64() & crate::seed::MAX_RANDOM_SEED;
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
        let t = self.position(now);
        self.seconds = seconds;
        // Keep the current position within the segment.
        self.segment_start = now - Duration::from_secs_f32(t * seconds.max(0.0));
        self.fps = fps;
    }

    fn interval(&self) -> Duration {
        if self.fps > 0.0 {
            Duration::from_secs_f64(1.0 / self.fps as f64)
        } else {
            Duration::ZERO
        }
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

    /// Frame slots skipped so far because the engine was busy.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The seed the walk is heading to.
    pub fn target(&self) -> u64 {
        self.to
    }

    /// Asks what to do at `now`. After a `Render`, call [`Morph::handle_done`]
    /// when the frame is shown; until then `tick` only waits.
    pub fn tick(&mut self, now: Instant) -> Step {
        let interval = self.interval();
        if self.in_flight {
            return Step::Wait(now + interval.max(Duration::from_millis(1)));
        }
        if now < self.next_slot {
            return Step::Wait(self.next_slot);
        }
        // Slots that passed while the previous frame rendered are dropped.
        if !interval.is_zero() {
            let late = now.duration_since(self.next_slot);
            let missed = (late.as_secs_f64() / interval.as_secs_f64()) as u64;
            self.dropped += missed;
            self.next_slot += interval * (missed as u32 + 1);
        }
        // Segments that ended move the walk on to the next seed.
        while self.seconds > 0.0
            && now
                .saturating_duration_since(self.segment_start)
                .as_secs_f32()
                >= self.seconds
        {
            self.segment_start += Duration::from_secs_f32(self.seconds);
            self.from = self.to;
            self.to = self.seeds.next_u64() & crate::seed::MAX_RANDOM_SEED;
        }
        self.in_flight = true;
        Step::Render(FramePlan {
            from: self.from,
            to: self.to,
            t: self.position(now),
        })
    }

    /// The frame asked for last has been rendered (or failed).
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

    fn render(step: Step) -> FramePlan {
        match step {
            Step::Render(p) => p,
            Step::Wait(_) => panic!("expected a frame, got {step:?}"),
        }
    }

    #[test]
    fn walks_at_the_target_rate() {
        let t0 = Instant::now();
        let mut m = Morph::new(7, t0, 1.0, 10.0);
        let first = render(m.tick(t0));
        assert_eq!((first.from, first.t), (7, 0.0));
        m.handle_done();
        assert_eq!(m.tick(t0 + ms(30)), Step::Wait(t0 + ms(100)));
        let second = render(m.tick(t0 + ms(100)));
        assert!((second.t - 0.1).abs() < 1e-4);
        assert_eq!(m.dropped(), 0);
    }

    #[test]
    fn frames_are_dropped_not_queued_when_the_engine_is_slow() {
        let t0 = Instant::now();
        let mut m = Morph::new(1, t0, 10.0, 10.0);
        render(m.tick(t0));
        // The engine takes 350 ms: slots at 100, 200, 300 ms pass.
        assert!(
            matches!(m.tick(t0 + ms(200)), Step::Wait(_)),
            "one frame in flight at most"
        );
        m.handle_done();
        let late = render(m.tick(t0 + ms(350)));
        assert!(
            (late.t - 0.035).abs() < 1e-4,
            "the walk follows the clock, not the frame count"
        );
        assert_eq!(m.dropped(), 2);
        m.handle_done();
        assert_eq!(m.tick(t0 + ms(360)), Step::Wait(t0 + ms(400)));
    }

    #[test]
    fn fps_zero_renders_back_to_back() {
        let t0 = Instant::now();
        let mut m = Morph::new(1, t0, 10.0, 0.0);
        for i in 0..5 {
            render(m.tick(t0 + ms(i)));
            m.handle_done();
        }
        assert_eq!(m.dropped(), 0);
    }

    #[test]
    fn segments_chain_seed_to_seed() {
        let t0 = Instant::now();
        let mut m = Morph::new(5, t0, 1.0, 4.0);
        let target = m.target();
        render(m.tick(t0));
        m.handle_done();
        let next = render(m.tick(t0 + ms(1250)));
        assert_eq!(next.from, target, "the old target is the new start");
        assert_ne!(next.to, target);
        assert!((next.t - 0.25).abs() < 1e-4);
        // Same start seed, same walk.
        assert_eq!(Morph::new(5, t0, 1.0, 4.0).target(), target);
    }

    #[test]
    fn changing_speed_keeps_the_position() {
        let t0 = Instant::now();
        let mut m = Morph::new(5, t0, 10.0, 0.0);
        render(m.tick(t0));
        m.handle_done();
        m.set_rates(t0 + ms(5000), 2.0, 0.0);
        let p = render(m.tick(t0 + ms(5000)));
        assert!((p.t - 0.5).abs() < 1e-3, "{p:?}");
    }
}
