//! The task that drives morph mode and attract mode: it follows the pure
//! [`super::morph::Morph`] scheduler, renders its frames on the engine's
//! frame lane (latest wins), encodes them fast, and shows them on the
//! `frames` watch. Frames are not archived. Attract mode starts here when
//! the piece has been left alone; any command ends it (`Studio::handle`).

use super::command::Mode;
use super::event::Frame;
use super::{Studio, morph};
use crate::engine::{Lane, RenderRequest, RunError, Source, Urgency};
use crate::seed::Latent;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

pub(super) async fn run(studio: Arc<Studio>, cancel: CancellationToken) {
    let mut state = studio.state.subscribe();
    let mut walk: Option<(String, morph::Morph)> = None;
    let mut seq = 0u64;
    loop {
        let now = Instant::now();
        let (still, attracting) = {
            let s = studio.state.borrow();
            (s.mode == Mode::Still, s.attract)
        };
        if still && !attracting && studio.attract.lock().expect("attract lock").is_idle(now) {
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
        let info = s
            .model
            .as_ref()
            .and_then(|m| studio.infos.lock().expect("infos lock").get(m).cloned());
        let active = (s.mode == Mode::Morph || attract)
            && info
                .as_ref()
                .is_some_and(|i| i.kind != crate::package::ModelKind::Image);
        let Some(info) = info.filter(|_| active) else {
            walk = None;
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
        if walk.as_ref().is_none_or(|(m, _)| *m != info.name) {
            let start = s.seed.unwrap_or_else(crate::seed::random_seed);
            walk = Some((
                info.name.clone(),
                morph::Morph::new(start, now, seconds, fps),
            ));
        }
        let (_, m) = walk.as_mut().expect("set above");
        m.set_rates(now, seconds, fps);
        let dropped_before = m.dropped();
        let step = m.tick(now);
        studio
            .metrics
            .frames_dropped
            .inc_by(m.dropped() - dropped_before);
        let plan = match step {
            morph::Step::Wait(until) => {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep_until(until.into()) => {},
                    _ = state.changed() => {},
                }
                continue;
            }
            morph::Step::Render(plan) => plan,
        };
        let len: usize = info.input_shape.iter().product();
        let latent =
            Latent::from_seed(plan.from, len).slerp(&Latent::from_seed(plan.to, len), plan.t);
        let rx = studio.engine.render(RenderRequest {
            model: info.name.clone(),
            source: Source::Latent(latent),
            size: None,
            urgency: Urgency::Latest(Lane::Frames),
        });
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = rx => r.unwrap_or(Err(RunError::Stopped)),
        };
        m.handle_done();
        match result {
            Ok(rendered) => {
                seq += 1;
                let params =
                    serde_json::json!({"morph": {"from": plan.from, "to": plan.to, "t": plan.t}});
                let provenance = rendered.provenance(params);
                let image = rendered.image;
                let (width, height) = (image.width, image.height);
                let png = tokio::task::spawn_blocking(move || {
                    crate::picture::encode_png_with(&image, &provenance, png::Compression::Fastest)
                })
                .await;
                if let Ok(png) = png {
                    let frame = Frame {
                        seq,
                        model: info.name.clone(),
                        seed: None,
                        width,
                        height,
                        png: Arc::new(png),
                    };
                    studio.frames.send_replace(Some(frame));
                    studio.metrics.frames.inc();
                }
            }
            Err(RunError::Superseded | RunError::Busy) => studio.metrics.frames_dropped.inc(),
            Err(RunError::Stopped) => return,
            Err(e) => {
                tracing::warn!("morph frame failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    }
}
