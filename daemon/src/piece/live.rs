//! Live mode: frames from the source, re-painted by the current `image`
//! model, shown on the `frames` watch (the page's `/frames/latest.png`).
//! Frames are not archived; `capture` (capture.rs) is the archived kind.
//!
//! Three stages, each newest-wins, so nothing ever queues behind a slow
//! engine and the stages overlap:
//!
//! 1. take: a fresh frame pulled from the feed when the target rate allows
//!    (the source makes frames only when asked, so a 30 frames/s camera or
//!    the test pattern costs only the frames painted); a frame whose scene
//!    did not move (`source::scene`) is skipped; the frame is fitted to
//!    the model's input on a blocking thread;
//! 2. paint: a stream open on the engine ([`easel_engine::Stream`]) with
//!    one frame in flight per engine thread, each painted on one thread:
//!    a new frame is taken when a thread is free (once the threads' pace
//!    is known: a frame's making before one is free), and takes are
//!    spaced by a frame's time over the threads (counted from one take to
//!    the next, so making and fitting a frame adds nothing), so frames
//!    arrive evenly staggered (throughput of every core, latency of one
//!    core per frame);
//! 3. show (`show`): the newest painted frame is published; one that comes
//!    back after a newer one was shown is dropped.
//!
//! Each painted frame is awaited in its own small task that holds one of
//! the stage's permits, so the take loop never waits for a picture, and
//! encoding for the page happens only when a page asks (`Frame::png`).
//!
//! Also here: the task that mirrors the source's health
//! into `state.source` and parks live mode in still mode while a source
//! without a pattern fallback fails.

use super::command::Mode;
use super::{Studio, state::State};
use crate::source::scene::SceneChange;
use crate::source::{Fallback, SourceHealth};
use easel_engine::package::ModelKind;
use easel_engine::{ModelInfo, Rendered, RunError, Source, Stream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

/// Mean luma change (levels of 255) that counts as movement.
pub const STILL_THRESHOLD: f32 = 2.0;
/// After a still frame, the next look at the scene: movement is noticed
/// within this, and a still scene costs ten frames a second, not thirty.
const STILL_LOOK_AGAIN: Duration = Duration::from_millis(100);
/// How long to wait for a pulled frame before asking again.
const PULL_AGAIN: Duration = Duration::from_secs(2);
/// How often the live summary (rate, latency) is logged.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);
/// After a frame failed in the model, the pause before its permit is free.
const FAILED_PAUSE: Duration = Duration::from_millis(500);

/// A painted frame on its way to the screen.
struct Painted {
    rendered: Rendered,
    /// When the source took the frame: the start of capture-to-display.
    captured: Instant,
    origin: Arc<str>,
    /// Order in which frames were handed to the engine: frames can come
    /// back out of order, and an older one never replaces a newer one.
    index: u64,
    /// Frames skipped so far because the scene was still.
    still: u64,
}

/// What stage 2 hands to stage 3: the newest painted frame, and how many
/// frames came back painted in all, so the show stage can tell how many
/// it never showed.
#[derive(Default)]
struct Delivered {
    newest: Option<Arc<Painted>>,
    count: u64,
}

/// The model live mode paints with now, if live mode is on.
fn painting(studio: &Studio, state: &State) -> Option<Arc<ModelInfo>> {
    if state.mode != Mode::Live || state.closed() {
        return None;
    }
    let name = state.model.as_ref()?;
    let info = studio
        .infos
        .lock()
        .expect("infos lock")
        .get(name)
        .cloned()?;
    (info.kind == ModelKind::Image).then_some(info)
}

/// After a state change, whether live mode still paints with `model`:
/// other changes (a new picture, a knob) do not waste a frame being made.
fn still_painting(studio: &Studio, state: &mut watch::Receiver<State>, model: &str) -> bool {
    painting(studio, &state.borrow_and_update()).is_some_and(|i| i.name == model)
}

/// Stages 1 and 2 (see the module comment); spawns stage 3.
pub(super) async fn run(studio: Arc<Studio>, cancel: CancellationToken) {
    let mut state = studio.state.subscribe();
    let mut frames = studio.feed.frames.clone();
    let (painted_tx, painted_rx) = watch::channel(Delivered::default());
    tokio::spawn(show(studio.clone(), painted_rx, cancel.clone()));
    // One frame in flight per engine thread.
    let lanes = studio.engine.threads().max(1);
    let permits = Arc::new(Semaphore::new(lanes));
    let lanes = lanes as u32;
    // The latest frame's time in the model, for spacing the next starts.
    let inference_us = Arc::new(AtomicU64::new(0));
    let mut scene = SceneChange::new(STILL_THRESHOLD);
    let mut model: Option<String> = None;
    let mut stream: Option<Stream> = None;
    let mut last_frame: Option<Arc<easel_engine::picture::RgbImage>> = None;
    let mut last_start: Option<Instant> = None;
    let mut rest_until: Option<Instant> = None;
    let (mut sent, mut still) = (0u64, 0u64);
    loop {
        let (info, fps) = {
            let s = state.borrow_and_update();
            (painting(&studio, &s), s.params.live_fps)
        };
        let Some(info) = info else {
            // Not live: no pulls, the feed idles, the engine is let go.
            model = None;
            stream = None;
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = state.changed() => if r.is_err() { return },
            }
            continue;
        };
        if model.as_ref() != Some(&info.name) {
            // A new model repaints the scene even if nothing moves.
            scene.reset();
            last_frame = None;
            stream = None;
            inference_us.store(0, Ordering::Relaxed);
            model = Some(info.name.clone());
        }
        // The target rate (0 = as fast as the engine goes), and frames in
        // flight started spread over one frame's time, so they come back
        // spread out instead of in bunches the screen would not show.
        let spacing = Duration::from_micros(inference_us.load(Ordering::Relaxed)) / lanes;
        let target = if fps > 0.0 {
            Duration::from_secs_f32(1.0 / fps)
        } else {
            Duration::ZERO
        };
        if let Some(started) = last_start
            && !spacing.max(target).is_zero()
        {
            let due = started + spacing.max(target);
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = state.changed() => { if r.is_err() { return } continue }
                _ = tokio::time::sleep_until(due.into()) => {}
            }
        }
        // After a still frame, look again a little later, not at once.
        if let Some(until) = rest_until.take() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = state.changed() => { if r.is_err() { return } continue }
                _ = tokio::time::sleep_until(until.into()) => {}
            }
        }
        // A free engine thread before the frame is taken, so it is fresh
        // when painting starts, until the lanes' pace is known. From then
        // on the frame is taken and fitted while the lanes finish (the
        // spacing is their pace, so it waits a few ms at most), else
        // each lane would idle while its next frame is made: 0.5 frames/s
        // of style-256's 9 on two cores.
        let mut permit = permits.clone().try_acquire_owned().ok();
        if permit.is_none() && spacing.is_zero() {
            permit = tokio::select! {
                _ = cancel.cancelled() => return,
                r = state.changed() => { if r.is_err() { return } continue }
                p = permits.clone().acquire_owned() => Some(p.expect("the permits are never closed")),
            };
        }
        // A fresh frame, made now: the source makes frames only when asked.
        // Takes are spaced from here, not from when painting began, so
        // making and fitting the frame (10-15 ms for the pattern on a busy
        // 2-core board) does not stretch every spacing.
        let taken = Instant::now();
        frames.mark_unchanged();
        studio.feed.pull();
        // One deadline for this pull: state changes in between (a knob
        // turned often) must not push the re-pull back.
        let give_up = tokio::time::Instant::now() + PULL_AGAIN;
        let arrived = loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = state.changed() => {
                    if r.is_err() { return }
                    if !still_painting(&studio, &mut state, &info.name) {
                        break false;
                    }
                }
                r = frames.changed() => { if r.is_err() { return } break true }
                // Not served (a source failing without a fallback): ask again.
                _ = tokio::time::sleep_until(give_up) => break false,
            }
        };
        if !arrived {
            continue;
        }
        let Some(frame) = frames.borrow_and_update().clone() else {
            continue;
        };
        // A still picture repeats the very same buffer: no need to look.
        if last_frame
            .as_ref()
            .is_some_and(|f| Arc::ptr_eq(f, &frame.image))
        {
            still += 1;
            rest_until = Some(Instant::now() + STILL_LOOK_AGAIN);
            continue;
        }
        last_frame = Some(frame.image.clone());
        let [_, _, h, w] = info.input_shape[..] else {
            tracing::error!(model = %info.name, shape = ?info.input_shape, "image model without an NCHW input");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let (image, how) = (frame.image.clone(), info.fit);
        // The test pattern moves all the time, but slowly: next to the
        // last painted frame it stayed under the threshold 2-12 times in
        // 10 s at 8 frames/s, and each time a lane rested instead of
        // painting. Its frames are always painted, as it promises.
        let always = &*frame.origin == crate::source::pattern::URI;
        let mut detector = std::mem::replace(&mut scene, SceneChange::new(STILL_THRESHOLD));
        let prepared = tokio::task::spawn_blocking(move || {
            let moved = always || detector.handle_frame(&image);
            let fitted = moved.then(|| easel_engine::fit::fit(&image, w as u32, h as u32, how));
            (detector, fitted)
        })
        .await;
        let Ok((detector, fitted)) = prepared else {
            return;
        };
        scene = detector;
        let Some(fitted) = fitted else {
            still += 1;
            rest_until = Some(Instant::now() + STILL_LOOK_AGAIN);
            continue;
        };
        last_start = Some(taken);
        let permit = match permit {
            Some(permit) => Some(permit),
            None => loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = state.changed() => {
                        if r.is_err() { return }
                        if !still_painting(&studio, &mut state, &info.name) {
                            break None;
                        }
                    }
                    p = permits.clone().acquire_owned() => {
                        break Some(p.expect("the permits are never closed"))
                    }
                }
            },
        };
        let Some(permit) = permit else {
            continue;
        };
        // The stream ends whenever another job (a visitor's command, a
        // load) reaches the engine: then a new one, queued behind it.
        if !stream.as_ref().is_some_and(Stream::is_open) {
            stream = None;
        }
        let rx = stream
            .get_or_insert_with(|| studio.engine.stream(&info.name))
            .paint(Source::Image(Arc::new(fitted)));
        sent += 1;
        let (index, captured, origin) = (sent, frame.captured, frame.origin.clone());
        let (studio, painted_tx, cancel) = (studio.clone(), painted_tx.clone(), cancel.clone());
        let inference_us = inference_us.clone();
        tokio::spawn(async move {
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                r = rx => r.unwrap_or(Err(RunError::Superseded)),
            };
            match result {
                Ok(rendered) => {
                    let us = rendered.inference.as_micros().min(u64::MAX as u128) as u64;
                    inference_us.store(us, Ordering::Relaxed);
                    let painted = Arc::new(Painted {
                        rendered,
                        captured,
                        origin,
                        index,
                        still,
                    });
                    painted_tx.send_if_modified(|d| {
                        d.count += 1;
                        let newer = d.newest.as_ref().is_none_or(|n| n.index < index);
                        if newer {
                            d.newest = Some(painted);
                        }
                        newer
                    });
                }
                Err(RunError::Superseded | RunError::Busy) => studio.metrics.frames_dropped.inc(),
                Err(RunError::Stopped) => {}
                Err(e) => {
                    tracing::warn!(model = %info.name, "live frame failed: {e}");
                    tokio::time::sleep(FAILED_PAUSE).await;
                }
            }
            drop(permit);
        });
    }
}

/// Stage 3: shows the newest painted frame.
async fn show(
    studio: Arc<Studio>,
    mut painted: watch::Receiver<Delivered>,
    cancel: CancellationToken,
) {
    let mut seen = 0u64;
    let mut stats = Stats::new(Instant::now());
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = painted.changed() => if r.is_err() { return },
        }
        let (p, count) = {
            let d = painted.borrow_and_update();
            let Some(p) = d.newest.clone() else { continue };
            (p, d.count)
        };
        // Painted frames that came and went (or came back late) unseen.
        let missed = count.saturating_sub(seen + 1);
        studio.metrics.frames_dropped.inc_by(missed);
        seen = count;
        let params = serde_json::json!({"source": &*p.origin, "live": true});
        let provenance = p.rendered.provenance(params);
        studio.show_frame(p.rendered.image.clone(), provenance);
        let now = Instant::now();
        if let Some(s) = stats.handle_shown(now, now - p.captured, missed, p.still) {
            tracing::info!(
                model = %p.rendered.model.name,
                fps = format!("{:.2}", s.fps),
                latency_p50_ms = s.latency_p50_ms,
                latency_p90_ms = s.latency_p90_ms,
                latency_max_ms = s.latency_max_ms,
                still = s.still,
                dropped = s.dropped,
                "live frames"
            );
        }
    }
}

/// What the live summary line says about the last interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Frames shown per second.
    pub fps: f64,
    pub latency_p50_ms: u64,
    pub latency_p90_ms: u64,
    pub latency_max_ms: u64,
    /// Frames skipped because the scene was still.
    pub still: u64,
    /// Painted frames the screen never showed (a newer one was shown first).
    pub dropped: u64,
}

/// Rate and capture-to-display latency over intervals of `SUMMARY_EVERY`.
/// Pure: the caller passes the time.
#[derive(Debug)]
pub struct Stats {
    since: Instant,
    latencies: Vec<Duration>,
    dropped: u64,
    still_at_start: u64,
    still: u64,
}

impl Stats {
    pub fn new(now: Instant) -> Stats {
        Stats {
            since: now,
            latencies: Vec::new(),
            dropped: 0,
            still_at_start: 0,
            still: 0,
        }
    }

    /// Records a frame shown at `now`; a summary once per interval.
    pub fn handle_shown(
        &mut self,
        now: Instant,
        latency: Duration,
        dropped: u64,
        still_total: u64,
    ) -> Option<Summary> {
        self.latencies.push(latency);
        self.dropped += dropped;
        self.still = still_total;
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed < SUMMARY_EVERY {
            return None;
        }
        let mut sorted = std::mem::take(&mut self.latencies);
        sorted.sort();
        let at =
            |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_millis() as u64;
        let summary = Summary {
            fps: sorted.len() as f64 / elapsed.as_secs_f64(),
            latency_p50_ms: at(0.5),
            latency_p90_ms: at(0.9),
            latency_max_ms: at(1.0),
            still: self.still - self.still_at_start,
            dropped: std::mem::take(&mut self.dropped),
        };
        self.since = now;
        self.still_at_start = self.still;
        Some(summary)
    }
}

/// Whether live mode is parked in still mode because its source failed
/// with `fallback = "still"` (no frames to paint). Pure.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Parking {
    parked: bool,
}

impl Parking {
    /// The mode to switch to, if any, given whether the source gives no
    /// frames now and the current mode.
    pub fn handle(&mut self, no_frames: bool, mode: Mode) -> Option<Mode> {
        match (no_frames, mode, self.parked) {
            (true, Mode::Live, _) => {
                self.parked = true;
                Some(Mode::Still)
            }
            (false, Mode::Still, true) => {
                self.parked = false;
                Some(Mode::Live)
            }
            // Someone chose another mode meanwhile: theirs stands.
            (_, Mode::Morph, true) => {
                self.parked = false;
                None
            }
            _ => None,
        }
    }
}

/// Mirrors the feed's health into `state.source`, and parks live mode in
/// still mode while the source fails without a pattern to show.
pub(super) async fn watch_source(studio: Arc<Studio>, cancel: CancellationToken) {
    let mut health = studio.feed.health.clone();
    let mut state = studio.state.subscribe();
    let mut parking = Parking::default();
    loop {
        let current = health.borrow_and_update().clone();
        let status = current.status();
        studio.state.send_if_modified(|s| {
            let changed = s.source.as_ref() != Some(&status);
            s.source = Some(status.clone());
            changed
        });
        let no_frames = matches!(
            current,
            SourceHealth::Failing {
                fallback: Fallback::Still,
                ..
            }
        );
        let mode = state.borrow_and_update().mode;
        if let Some(to) = parking.handle(no_frames, mode) {
            match to {
                Mode::Still => tracing::warn!(
                    "live mode paused: the source gives no frames; showing still images until it is back"
                ),
                _ => tracing::info!("the source is back: live mode resumes"),
            }
            studio.state.send_modify(|s| s.mode = to);
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = health.changed() => if r.is_err() { return },
            r = state.changed() => if r.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_once_per_interval() {
        let t0 = Instant::now();
        let mut s = Stats::new(t0);
        let ms = Duration::from_millis;
        // Ten frames over 10 s, latencies 100..1000 ms.
        let mut out = None;
        for i in 1..=10u64 {
            let r = s.handle_shown(t0 + ms(i * 1000), ms(i * 100), i % 2, i);
            assert_eq!(r.is_some(), i == 10, "frame {i}");
            out = r;
        }
        let out = out.unwrap();
        assert!((out.fps - 1.0).abs() < 1e-9, "{out:?}");
        assert_eq!(
            (
                out.latency_p50_ms,
                out.latency_p90_ms,
                out.latency_max_ms,
                out.still,
                out.dropped
            ),
            (600, 900, 1000, 10, 5)
        );
        // The next interval starts afresh.
        assert!(s.handle_shown(t0 + ms(11_000), ms(50), 0, 12).is_none());
        let next = s.handle_shown(t0 + ms(20_000), ms(70), 0, 13).unwrap();
        assert_eq!((next.latency_max_ms, next.still, next.dropped), (70, 3, 0));
    }

    #[test]
    fn live_parks_in_still_while_the_source_gives_nothing() {
        use Mode::*;
        let mut p = Parking::default();
        // (no frames, mode) -> switch; as a table.
        let steps = [
            (false, Live, None),
            (true, Live, Some(Still)),
            (true, Still, None),
            (false, Still, Some(Live)),
            (false, Live, None),
            // Fails again; a technician picks morph: it stays morph.
            (true, Live, Some(Still)),
            (true, Morph, None),
            (false, Morph, None),
            (false, Still, None),
        ];
        for (i, (no_frames, mode, want)) in steps.into_iter().enumerate() {
            assert_eq!(p.handle(no_frames, mode), want, "step {i}");
        }
    }
}
