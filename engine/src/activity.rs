//! What the inference worker is doing, and since when it last showed
//! progress: what a supervisor needs to tell a busy engine from a stuck
//! one (the daemon withholds its systemd watchdog pings from a stuck
//! engine, so systemd restarts it).
//!
//! The worker beats when it takes a job, whenever a live stream asks for
//! or answers a frame, and when it goes idle; the loader thread keeps a
//! pulse of its own (when it starts a load, when it goes idle); nothing
//! else writes here.
//! A job that never returns (a hung kernel, a deadlock, a thread that
//! died in the middle) leaves the last beat behind, growing older. The
//! verdict ("too old for this kind of work") is the caller's: this file
//! only records, and reads no clock but the one the worker gives it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The kind of work the worker is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Waiting for a job: nothing can be stuck.
    Idle,
    /// Loading a model (reading, optimizing, smoke test): one long step
    /// with no progress to report on the way.
    Loading,
    /// Rendering: a picture, a batch, or a live stream's frames.
    Running,
}

/// The worker's last sign of life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    pub work: Work,
    /// When the worker last beat (took a job, moved a stream on, went idle).
    pub at: Instant,
}

impl Heartbeat {
    /// How long the worker has been quiet at `now`, when that is longer
    /// than the limit for its kind of work (`running` or `loading`); idle
    /// is never stuck. The one verdict the watchdog and the in-process
    /// replacement (`Engine::replace_stuck`) both use.
    pub fn quiet_past(
        &self,
        now: Instant,
        running: Duration,
        loading: Duration,
    ) -> Option<Duration> {
        let limit = match self.work {
            Work::Idle => return None,
            Work::Loading => loading,
            Work::Running => running,
        };
        let quiet = now.saturating_duration_since(self.at);
        (quiet > limit).then_some(quiet)
    }
}

/// The worker's side: one beat at a time.
#[derive(Debug)]
pub(crate) struct Pulse(Mutex<Heartbeat>);

impl Pulse {
    pub(crate) fn new(now: Instant) -> Pulse {
        Pulse(Mutex::new(Heartbeat {
            work: Work::Idle,
            at: now,
        }))
    }

    pub(crate) fn beat(&self, work: Work, now: Instant) {
        // A poisoned lock only means a reader panicked mid-copy: the beat
        // itself is plain data and still right to overwrite.
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *last = Heartbeat { work, at: now };
    }

    pub(crate) fn last(&self) -> Heartbeat {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_last_beat_wins() {
        let t0 = Instant::now();
        let pulse = Pulse::new(t0);
        assert_eq!(pulse.last().work, Work::Idle);
        pulse.beat(Work::Loading, t0 + Duration::from_secs(1));
        pulse.beat(Work::Running, t0 + Duration::from_secs(2));
        assert_eq!(
            pulse.last(),
            Heartbeat {
                work: Work::Running,
                at: t0 + Duration::from_secs(2)
            }
        );
    }
}
