//! No log line repeats unbounded: each place in the code that logs (a
//! tracing callsite) may write [`BURST`] lines per [`INTERVAL`]; the lines
//! after that are counted, not written, and when the interval ends one
//! line says how many were held back, with the first of them as a sample.
//!
//! Written for the day a dependency logs in a loop (the embedded broker
//! logged an accept error per failed `accept` when the process ran out of
//! file descriptors: 16 GB in 15 s, the end of an SD card). Keyed by
//! callsite rather than by message text: a loop's messages differ in
//! their numbers, and the set of callsites is fixed, so memory is bounded.
//!
//! [`Quota`] is the pure rule (instants in, "write or hold" out);
//! [`RateLimit`] is the tracing filter around it, and [`flush`] the loop
//! that writes the summaries.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::callsite::Identifier;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Filter};

/// Lines one callsite may write per interval.
pub const BURST: u32 = 5;
pub const INTERVAL: Duration = Duration::from_secs(60);
/// The summaries' own target: never held back.
pub const SUMMARY_TARGET: &str = "easeld::log_quota";

/// Whether a line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Write,
    Hold,
}

#[derive(Debug)]
struct Entry {
    since: Instant,
    written: u32,
    held: u64,
    /// The first line held back in this interval.
    sample: String,
}

/// The rule, per key.
#[derive(Debug)]
pub struct Quota<K> {
    burst: u32,
    interval: Duration,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq> Quota<K> {
    pub fn new(burst: u32, interval: Duration) -> Quota<K> {
        Quota {
            burst,
            interval,
            entries: HashMap::new(),
        }
    }

    /// A line from `key` at `now`; `message` is asked for only when the
    /// line is the interval's first held back.
    pub fn handle(&mut self, key: K, now: Instant, message: impl FnOnce() -> String) -> Verdict {
        let entry = self.entries.entry(key).or_insert(Entry {
            since: now,
            written: 0,
            held: 0,
            sample: String::new(),
        });
        // An interval with nothing held ends here; one with lines held
        // ends in `tick`, which reports them.
        if entry.held == 0 && now.saturating_duration_since(entry.since) >= self.interval {
            entry.since = now;
            entry.written = 0;
        }
        if entry.written < self.burst {
            entry.written += 1;
            return Verdict::Write;
        }
        if entry.held == 0 {
            entry.sample = message();
        }
        entry.held += 1;
        Verdict::Hold
    }

    /// Ends the intervals that are over at `now`: (sample, lines held) for
    /// each that held lines back.
    pub fn tick(&mut self, now: Instant) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for entry in self.entries.values_mut() {
            if now.saturating_duration_since(entry.since) >= self.interval {
                if entry.held > 0 {
                    out.push((std::mem::take(&mut entry.sample), entry.held));
                }
                entry.since = now;
                entry.written = 0;
                entry.held = 0;
            }
        }
        out
    }
}

/// The tracing filter: holds back what [`Quota`] says to.
#[derive(Clone)]
pub struct RateLimit(Arc<Mutex<Quota<Identifier>>>);

impl RateLimit {
    pub fn new() -> RateLimit {
        RateLimit(Arc::new(Mutex::new(Quota::new(BURST, INTERVAL))))
    }

    fn quota(&self) -> std::sync::MutexGuard<'_, Quota<Identifier>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit::new()
    }
}

/// An event's message (and its target), for a summary's sample.
fn message_of(event: &Event<'_>) -> String {
    struct Message(String);
    impl tracing::field::Visit for Message {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }
    let mut m = Message(String::new());
    event.record(&mut m);
    format!("{}: {}", event.metadata().target(), m.0)
}

impl<S: Subscriber> Filter<S> for RateLimit {
    fn enabled(&self, _: &tracing::Metadata<'_>, _: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _: &Context<'_, S>) -> bool {
        let meta = event.metadata();
        if meta.target() == SUMMARY_TARGET {
            return true;
        }
        let verdict = self
            .quota()
            .handle(meta.callsite(), Instant::now(), || message_of(event));
        verdict == Verdict::Write
    }
}

/// Writes the summaries of `limit` once a second, forever (a thread of
/// its own: the log works before and after the async runtime).
pub fn flush(limit: RateLimit) {
    let spawned = std::thread::Builder::new()
        .name("easel-log-quota".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                // Taken out first: logging takes the quota's lock again.
                let held = limit.quota().tick(Instant::now());
                for (sample, lines) in held {
                    tracing::warn!(
                        target: SUMMARY_TARGET,
                        "{lines} more lines like this were not written in the last {} s: {sample}",
                        INTERVAL.as_secs()
                    );
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("log quota summaries unavailable: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_burst_is_written_then_counted_then_summarised() {
        let t0 = Instant::now();
        let mut q = Quota::new(3, 60 * S);
        let verdicts: Vec<Verdict> = (0..10)
            .map(|i| q.handle("accept", t0 + i * S / 10, || format!("line {i}")))
            .collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Write).count(), 3);
        assert_eq!(
            q.handle("other", t0, String::new),
            Verdict::Write,
            "per key"
        );
        assert_eq!(q.tick(t0 + 30 * S), vec![], "the interval is not over");
        assert_eq!(q.tick(t0 + 60 * S), vec![("line 3".to_string(), 7)]);
        assert_eq!(q.tick(t0 + 200 * S), vec![], "reported once");
        assert_eq!(
            q.handle("accept", t0 + 201 * S, String::new),
            Verdict::Write
        );
    }

    /// A loop that never stops writes its burst and then one summary per
    /// interval: bounded, whatever the rate.
    #[test]
    fn a_hot_loop_writes_a_bounded_number_of_lines() {
        let t0 = Instant::now();
        let mut q = Quota::new(BURST, INTERVAL);
        let mut written = 0;
        let mut summaries = 0;
        for ms in 0..600_000u64 {
            let now = t0 + Duration::from_millis(ms);
            for _ in 0..10 {
                if q.handle(1, now, String::new) == Verdict::Write {
                    written += 1;
                }
            }
            if ms % 1000 == 0 {
                summaries += q.tick(now).len();
            }
        }
        // 6 million lines in ten minutes: ten bursts and nine summaries.
        assert_eq!(written, 10 * BURST as usize);
        assert_eq!(summaries, 9);
    }
}
