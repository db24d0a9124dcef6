//! `/live`: the page's server-sent event stream. On connect it sends
//! `hello` (boot id, the archive's newest picture) and the current `state`; then every `state` change,
//! every piece event (contract JSON, as `event`), a `frame` notice for the newest morph/live
//! frame at most [`FRAME_NOTICES`] times a second (the picture itself is fetched from
//! `/frames/latest.png`, so a slow screen skips frames instead of queueing them; a fast
//! engine makes far more frames than a screen shows), and a `ping` every few
//! seconds so the page can tell a dead connection from a quiet piece.
//!
//! Streams end when the daemon stops, so graceful shutdown never waits on
//! an open kiosk.

use super::Web;
use crate::metrics::Metrics;
use crate::piece::event::{Event as PieceEvent, Frame};
use crate::piece::state::State as PieceState;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often an idle stream says it is alive; the page reconnects after
/// missing a few.
pub const PING: Duration = Duration::from_secs(4);
/// Most frame notices a page gets per second: a screen's refresh rate.
pub const FRAME_NOTICES: u32 = 60;

/// One page's subscription. Counted in `easel_page_clients` while alive.
struct Feed {
    events: broadcast::Receiver<PieceEvent>,
    state: watch::Receiver<PieceState>,
    frames: watch::Receiver<Option<Frame>>,
    cancel: CancellationToken,
    ping: tokio::time::Interval,
    /// Sent first, before anything the piece publishes.
    greeting: Vec<Event>,
    metrics: Arc<Metrics>,
    /// False once nobody can send frames any more (no morph/live source):
    /// that ends the frame notices, not the stream.
    frames_open: bool,
    /// No frame notice before this instant.
    next_notice: Instant,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.metrics.page_clients.dec();
    }
}

/// `/live?viewport=WxH`: the page's screen size in device pixels.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Query {
    pub viewport: Option<String>,
}

pub async fn stream(
    State(web): State<Web>,
    axum::extract::Query(query): axum::extract::Query<Query>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let piece = &web.piece;
    if let Some(size) = query
        .viewport
        .as_deref()
        .and_then(crate::piece::viewport::parse)
    {
        piece.report_viewport(size);
    }
    let mut state = piece.state.clone();
    let mut frames = piece.frames.clone();
    let archive = piece.archive.clone();
    let newest = tokio::task::spawn_blocking(move || {
        archive
            .recent(1)
            .first()
            .and_then(|id| super::images::describe(&archive, id))
    })
    .await
    .ok()
    .flatten();
    let hello = serde_json::json!({"boot": &*web.boot, "version": env!("CARGO_PKG_VERSION"), "newest": newest});
    // Subscribe before reading the current values: nothing falls between.
    let events = piece.events.subscribe();
    let now = state.borrow_and_update().to_json();
    frames.mark_unchanged();
    let greeting = vec![
        Event::default()
            .event("hello")
            .retry(Duration::from_secs(1))
            .data(hello.to_string()),
        Event::default().event("state").data(now),
    ];
    piece.metrics.page_clients.inc();
    let mut ping = tokio::time::interval(PING);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        events,
        state,
        frames,
        cancel: web.cancel.clone(),
        ping,
        greeting,
        metrics: piece.metrics.clone(),
        frames_open: true,
        next_notice: Instant::now(),
    };
    Sse::new(futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok(event), feed))
    }))
}

impl Feed {
    /// The next event for the page; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        if !self.greeting.is_empty() {
            return Some(self.greeting.remove(0));
        }
        loop {
            let gated = Instant::now() < self.next_notice;
            tokio::select! {
                _ = self.cancel.cancelled() => return None,
                _ = tokio::time::sleep_until(self.next_notice), if gated => {},
                changed = self.state.changed() => {
                    changed.ok()?;
                    return Some(Event::default().event("state").data(self.state.borrow_and_update().to_json()));
                }
                changed = self.frames.changed(), if self.frames_open && !gated => {
                    if changed.is_err() {
                        self.frames_open = false;
                        continue;
                    }
                    let notice = self.frames.borrow_and_update().as_ref().map(|f| serde_json::json!({
                        "seq": f.seq, "model": f.model, "seed": f.seed, "width": f.width, "height": f.height,
                    }));
                    if let Some(notice) = notice {
                        self.next_notice = Instant::now() + Duration::from_secs(1) / FRAME_NOTICES;
                        return Some(Event::default().event("frame").data(notice.to_string()));
                    }
                }
                event = self.events.recv() => match event {
                    // Named `event`, not `error`: EventSource keeps `error` for its own
                    // connection failures.
                    Ok(e) => return Some(Event::default().event("event").data(e.to_json())),
                    // A page that fell behind only missed notices; state catches it up.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.ping.tick() => return Some(Event::default().event("ping").data("")),
            }
        }
    }
}
