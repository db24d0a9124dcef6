//! When to ping systemd's watchdog: only while the engine shows progress.
//!
//! systemd restarts a `WatchdogSec=` service whose pings stop. Pinging
//! from a timer alone would prove only that a timer runs; the thing that
//! hangs in a piece is the inference worker (a kernel that never returns,
//! a deadlock, a thread that died mid-job), and then the screen freezes
//! while the page, MQTT and the timer all look fine. So each tick looks at
//! the engine's heartbeat (`easel_engine::Heartbeat`): idle is alive, busy
//! is alive while the last beat is recent enough for that kind of work.
//!
//! Pure: heartbeats and instants in, "ping or not" and what to log out.

use easel_engine::{Heartbeat, Work};
use std::time::{Duration, Instant};

/// The least time a model load gets before the engine counts as stuck:
/// loading is one long step (reading, optimizing, the smoke test) with
/// nothing to report on the way, and a big model on a Pi takes tens of
/// seconds. Renders and live frames beat far more often.
pub const LOAD_ALLOWANCE: Duration = Duration::from_secs(300);

/// How long the engine may go without a beat, by kind of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub running: Duration,
    pub loading: Duration,
}

impl Limits {
    /// For systemd's `WATCHDOG_USEC`: a render that shows no progress for
    /// a whole watchdog interval is stuck; a load gets [`LOAD_ALLOWANCE`].
    pub fn for_interval(interval: Duration) -> Limits {
        Limits {
            running: interval,
            loading: interval.max(LOAD_ALLOWANCE),
        }
    }
}

/// How often to ping for a watchdog `interval`: half of it, as
/// sd_watchdog_enabled(3) advises, so one late tick is not a restart.
pub fn ping_period(interval: Duration) -> Duration {
    (interval / 2).max(Duration::from_millis(1))
}

/// What the engine's heartbeat says at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Alive,
    /// No beat for `quiet` while doing `work`.
    Stuck {
        work: Work,
        quiet: Duration,
    },
}

pub fn verdict(beat: Heartbeat, now: Instant, limits: &Limits) -> Verdict {
    match beat.quiet_past(now, limits.running, limits.loading) {
        Some(quiet) => Verdict::Stuck {
            work: beat.work,
            quiet,
        },
        None => Verdict::Alive,
    }
}

/// One tick's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    pub ping: bool,
    /// A change worth one log line (not one per tick).
    pub news: Option<News>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum News {
    /// Pings stop from now on: systemd will restart the daemon.
    Withheld { work: Work, quiet: Duration },
    /// The engine moved again before systemd acted.
    Resumed,
}

/// The ping decision over time: remembers whether pings are withheld, so
/// the change is logged once.
#[derive(Debug, Clone)]
pub struct Watchdog {
    limits: Limits,
    withheld: bool,
}

impl Watchdog {
    pub fn new(limits: Limits) -> Watchdog {
        Watchdog {
            limits,
            withheld: false,
        }
    }

    pub fn handle_tick(&mut self, beat: Heartbeat, now: Instant) -> Tick {
        match verdict(beat, now, &self.limits) {
            Verdict::Alive => {
                let news = std::mem::take(&mut self.withheld).then_some(News::Resumed);
                Tick { ping: true, news }
            }
            Verdict::Stuck { work, quiet } => {
                let news = (!self.withheld).then_some(News::Withheld { work, quiet });
                self.withheld = true;
                Tick { ping: false, news }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn beat(work: Work, at: Instant) -> Heartbeat {
        Heartbeat { work, at }
    }

    #[test]
    fn idle_is_always_alive_and_busy_only_while_recent() {
        let t0 = Instant::now();
        let limits = Limits::for_interval(30 * S);
        let v = |work, quiet| verdict(beat(work, t0), t0 + quiet, &limits);
        assert_eq!(v(Work::Idle, 3600 * S), Verdict::Alive);
        assert_eq!(v(Work::Running, 30 * S), Verdict::Alive);
        assert_eq!(
            v(Work::Running, 31 * S),
            Verdict::Stuck {
                work: Work::Running,
                quiet: 31 * S
            }
        );
        assert_eq!(
            v(Work::Loading, 299 * S),
            Verdict::Alive,
            "loads get longer"
        );
        assert!(matches!(v(Work::Loading, 301 * S), Verdict::Stuck { .. }));
        // A beat "from the future" (clock read in another order) is fresh.
        assert_eq!(
            verdict(beat(Work::Running, t0 + S), t0, &limits),
            Verdict::Alive
        );
    }

    #[test]
    fn a_long_interval_is_also_the_loads_limit() {
        assert_eq!(Limits::for_interval(600 * S).loading, 600 * S);
        assert_eq!(ping_period(30 * S), 15 * S);
    }

    /// A stuck job stops the pings (logged once), and they resume (logged
    /// once) when the worker beats again.
    #[test]
    fn pings_stop_while_stuck_and_resume_after() {
        let t0 = Instant::now();
        let mut dog = Watchdog::new(Limits::for_interval(10 * S));
        let job = beat(Work::Running, t0);
        let ticks: Vec<Tick> = [0, 5, 10, 15, 20, 25]
            .into_iter()
            .map(|s| dog.handle_tick(job, t0 + s * S))
            .collect();
        let pings: Vec<bool> = ticks.iter().map(|t| t.ping).collect();
        assert_eq!(pings, [true, true, true, false, false, false]);
        let news: Vec<_> = ticks.iter().filter_map(|t| t.news.clone()).collect();
        assert_eq!(
            news,
            [News::Withheld {
                work: Work::Running,
                quiet: 15 * S
            }]
        );
        let back = dog.handle_tick(beat(Work::Idle, t0 + 26 * S), t0 + 30 * S);
        assert_eq!(
            back,
            Tick {
                ping: true,
                news: Some(News::Resumed)
            }
        );
        assert_eq!(
            dog.handle_tick(beat(Work::Idle, t0 + 26 * S), t0 + 35 * S)
                .news,
            None
        );
    }
}
