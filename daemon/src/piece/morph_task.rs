//! The task that drives morph mode and attract mode: it follows the pure
//! [`super::morph::Morph`] scheduler, renders its frames in batches on the
//! engine's frame lane (latest wins), and shows each batch on the `frames`
//! watch, frame by frame at its planned instant, while the engine renders
//! the next one. Frames are not archived. Attract mode starts here when
//! the piece has been left alone; any command ends it (`Studio::handle`).

use super::command::Mode;
use super::{Studio, morph};
use easel_engine::seed::Latent;
use easel_engine::{BatchRequest, Lane, ModelInfo, Rendered, RunError, Source, Urgency};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub(super) async fn run(studio: Arc<Studio>, cancel: CancellationToken) {
    let mut state = studio.state.subscribe();
    let mut walk: Option<Walk> = None;
    let mut pending: Option<Batch> = None;
    // Two batches may wait to be shown: the one on screen and the next.
    let (show_tx, show_rx) = mpsc::channel(2);
    tokio::spawn(show(studio.clone(), show_rx, cancel.clone()));
    loop {
        let now = Instant::now();
        let (still, attracting, closed) = {
            let s = studio.state.borrow();
            (s.mode == Mode::Still, s.attract, s.closed())
        };
        if still
            && !attracting
            && !closed
            && studio.attract.lock().expect("attract lock").is_idle(now)
        {
            tracing::info!("nobody around: attract mode");
            studio.state.send_modify(|s| s.attract = true);
        }
        let s = state.borrow_and_update().clone();
        let attract = s.attract && s.mode == Mode::Still;
        let (seconds, fps) = if attract {
            (studio.attract_config.seconds, studio.attract_config.fps)
        } else {
            (s.params.seconds, s.params.fps)
        };
        // Attract mode morphs the current model, or one that can morph
        // when the current one is an image model.
        let name = if attract {
            studio.stage().attract_model().map(str::to_string)
        } else {
            s.model.clone()
        };
        let info = name
            .as_ref()
            .and_then(|m| studio.infos.lock().expect("infos lock").get(m).cloned());
        let active = (s.mode == Mode::Morph || attract)
            && !s.closed()
            && info
                .as_ref()
                .is_some_and(|i| i.kind != easel_engine::package::ModelKind::Image);
        let Some(info) = info.filter(|_| active) else {
            walk = None;
            pending = None;
            let idle_at = studio.attract.lock().expect("attract lock").idle_at();
            let idle = async {
                match idle_at {
                    Some(at) if !s.attract => tokio::time::sleep_until(at.into()).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = state.changed() => if r.is_err() { return },
                _ = studio.activity.notified() => {},
                _ = idle => {},
            }
            continue;
        };
        // A new model (or a new walk) starts from the picture on screen.
        if walk.as_ref().is_none_or(|w| w.model != info.name) {
            let start = s.seed.unwrap_or_else(easel_engine::seed::random_seed);
            walk = Some(Walk {
                model: info.name.clone(),
                morph: morph::Morph::new(start, now, seconds, fps),
                pace: first_pace(info.lanes),
            });
            pending = None;
        }
        let Walk { morph: m, pace, .. } = walk.as_mut().expect("set above");
        m.set_rates(now, seconds, fps);
        let batch = match pending.take() {
            Some(batch) => batch,
            None => match ask(&studio, &info, m, pace, now) {
                Ok(batch) => batch,
                Err(until) => {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep_until(until.into()) => {},
                        _ = state.changed() => {},
                    }
                    continue;
                }
            },
        };
        let Batch { shots, mut reply } = batch;
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = &mut reply => r.unwrap_or(Err(RunError::Stopped)),
            _ = state.changed() => {
                // Still wanted? The top of the loop decides.
                pending = Some(Batch { shots, reply });
                continue;
            }
        };
        m.handle_done();
        let rendered = match result {
            Ok(rendered) => rendered,
            Err(RunError::Superseded | RunError::Busy) => {
                studio.metrics.frames_dropped.inc_by(shots.len() as u64);
                continue;
            }
            Err(RunError::Stopped) => return,
            Err(e) => {
                tracing::warn!("morph frames failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        if let Some(first) = rendered.first() {
            // The engine's throughput, smoothed: it spaces the next frames.
            pace.cost = pace.cost.mul_f64(0.7) + first.inference.mul_f64(0.3);
            tracing::trace!(
                frames = rendered.len(),
                frame_ms = first.inference.as_secs_f64() * 1e3,
                waited_ms = first.waited.as_secs_f64() * 1e3,
                late_ms = Instant::now()
                    .saturating_duration_since(shots[0].at)
                    .as_secs_f64()
                    * 1e3,
                "morph batch"
            );
        }
        // The next batch renders while this one is shown: the show task
        // paces the frames, so the engine never waits for the screen.
        pending = ask(&studio, &info, m, pace, Instant::now()).ok();
        let shown = Shown {
            model: info.name.clone(),
            shots,
            rendered,
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = show_tx.send(shown) => if r.is_err() { return },
        }
    }
}

/// A rendered batch on its way to the screen.
struct Shown {
    model: String,
    shots: Vec<morph::Shot>,
    rendered: Vec<Rendered>,
}

/// Shows each batch's frames at their planned instants, batch after
/// batch; frames no longer wanted (another mode or model) are dropped.
async fn show(studio: Arc<Studio>, mut batches: mpsc::Receiver<Shown>, cancel: CancellationToken) {
    let mut state = studio.state.subscribe();
    loop {
        let batch = tokio::select! {
            _ = cancel.cancelled() => return,
            b = batches.recv() => match b { Some(b) => b, None => return },
        };
        let mut wanted = None;
        for (shot, rendered) in batch.shots.iter().zip(batch.rendered) {
            // tokio's timers tick in milliseconds: sleeping for less would
            // wait a whole tick and make showing slower than rendering.
            if shot.at > Instant::now() + TIMER_TICK {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep_until(shot.at.into()) => {},
                }
            }
            if wanted.is_none() || state.has_changed().unwrap_or(true) {
                state.mark_unchanged();
                wanted = Some(still_wanted(&studio, &batch.model));
            }
            if wanted == Some(false) {
                break;
            }
            let plan = shot.plan;
            let params =
                serde_json::json!({"morph": {"from": plan.from, "to": plan.to, "t": plan.t}});
            let provenance = rendered.provenance(params);
            studio.show_frame(rendered.image, provenance);
        }
    }
}

/// The morph walk on one model, and what its engine can do.
struct Walk {
    model: String,
    morph: morph::Morph,
    pace: morph::Pace,
}

/// A batch of frames rendering on the engine.
struct Batch {
    shots: Vec<morph::Shot>,
    reply: oneshot::Receiver<Result<Vec<Rendered>, RunError>>,
}

/// A batch should take about this long: every lane busy, and a visitor's
/// command (which waits for the batch in progress) still quick.
const BATCH_WINDOW: Duration = Duration::from_millis(25);
const MAX_BATCH: usize = 64;
/// The resolution of tokio's timers.
const TIMER_TICK: Duration = Duration::from_millis(1);

/// Before the first batch is back: assume a millisecond a frame (the
/// measured cost takes over after one batch).
fn first_pace(lanes: usize) -> morph::Pace {
    morph::Pace {
        cost: Duration::from_millis(1),
        lanes: lanes.max(1),
        window: BATCH_WINDOW,
        max: MAX_BATCH,
    }
}

/// Plans the next batch and hands it to the engine, or says when to ask.
/// Frame slots the plan had to skip are counted as dropped.
fn ask(
    studio: &Studio,
    info: &ModelInfo,
    m: &mut morph::Morph,
    pace: &morph::Pace,
    now: Instant,
) -> Result<Batch, Instant> {
    let dropped_before = m.dropped();
    let step = m.tick(now, pace);
    studio
        .metrics
        .frames_dropped
        .inc_by(m.dropped() - dropped_before);
    let shots = match step {
        morph::Step::Wait(until) => return Err(until),
        morph::Step::Render(shots) => shots,
    };
    let len: usize = info.input_shape.iter().product();
    let sources = shots
        .iter()
        .map(|shot| {
            let p = shot.plan;
            Source::Latent(Latent::from_seed(p.from, len).slerp(&Latent::from_seed(p.to, len), p.t))
        })
        .collect();
    let reply = studio.engine.render_batch(BatchRequest {
        model: info.name.clone(),
        sources,
        urgency: Urgency::Latest(Lane::Frames),
    });
    Ok(Batch { shots, reply })
}

/// Whether morph frames of `model` are still wanted (mode and model).
fn still_wanted(studio: &Studio, model: &str) -> bool {
    let (mode, attract, current) = {
        let s = studio.state.borrow();
        (s.mode, s.attract, s.model.clone())
    };
    match mode {
        Mode::Morph => current.as_deref() == Some(model),
        Mode::Still if attract => studio.stage().attract_model() == Some(model),
        _ => false,
    }
}
