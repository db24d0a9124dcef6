//! `capture {"model"?}`: one frame from the source, re-painted by an
//! `image` model, archived with provenance (the params name the source and
//! say it was captured) and shown like any generated picture: `latest`,
//! a `generated` event with the request id, the palette.
//!
//! The model is chosen by the stage (`stage.rs`): the one asked for, or
//! the current image model, or the first loaded one; `generate` with an
//! image model current is a capture too.
//!
//! The frame is the first one the source takes after the command arrived
//! (never an old frame from before the visitor pressed the button). It
//! goes to the engine whole: the engine's own crop and resize, exactly as
//! `easel generate --input` would do with the same picture.

use super::Studio;
use crate::source::{Fallback, SourceHealth};
use easel_engine::{Lane, RenderRequest, RunError, Source, Urgency};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a capture waits for the source's next frame.
pub const FRAME_WAIT: Duration = Duration::from_secs(5);

pub(super) fn handle(
    studio: &Arc<Studio>,
    request_id: Option<String>,
    model: String,
    arrived: Instant,
) {
    let health = studio.feed.health.borrow().clone();
    if let SourceHealth::Failing {
        fallback: Fallback::Still,
        ..
    } = health
    {
        let warning = health.warning().unwrap_or_default();
        return studio.publish_error(request_id, "no_frame", warning);
    }
    let mut frames = studio.feed.frames.clone();
    let studio = studio.clone();
    studio.clone().in_flight.spawn(async move {
        // The first frame made after the command arrived: pulled, and
        // pulled again if one already on its way was older.
        let next = tokio::time::timeout(FRAME_WAIT, async {
            loop {
                frames.mark_unchanged();
                studio.feed.pull();
                frames.changed().await.ok()?;
                if let Some(frame) = frames.borrow_and_update().clone()
                    && frame.captured >= arrived
                {
                    return Some(frame);
                }
            }
        })
        .await;
        let Ok(Some(frame)) = next else {
            let why = studio.feed.health.borrow().warning();
            return studio.publish_error(
                request_id,
                "no_frame",
                format!(
                    "the source gave no frame within {} s{}",
                    FRAME_WAIT.as_secs(),
                    why.map(|w| format!(": {w}")).unwrap_or_default()
                ),
            );
        };
        let rx = studio.engine.render(RenderRequest {
            model,
            source: Source::Image(frame.image.clone()),
            size: None,
            urgency: Urgency::Latest(Lane::Interactive),
        });
        let result = rx.await.unwrap_or(Err(RunError::Stopped));
        let params = serde_json::json!({
            "captured": true,
            "source": &*frame.origin,
            "frame": {"index": frame.index, "width": frame.image.width, "height": frame.image.height},
        });
        let origin = easel_credentials::Origin::Frame {
            source: frame.origin.to_string(),
            width: frame.image.width,
            height: frame.image.height,
        };
        studio
            .finish(request_id, arrived, result, Some(params), origin)
            .await;
    });
}
