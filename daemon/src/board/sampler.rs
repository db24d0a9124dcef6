//! The task that reads the board every [`PERIOD`]: the full reading for
//! `/metrics` (a `watch`), and `state.board` for the piece when it moved
//! enough to matter (`health::worth_publishing`).

use super::Board;
use super::health::{self, Thresholds};
use super::probe::Probe;
use crate::piece::Piece;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the board is read: the files are cheap to read, and nothing
/// here changes faster than a technician could act on.
pub const PERIOD: Duration = Duration::from_secs(10);

/// Reads the board once now (so `/metrics` and `/healthz` have it from the
/// start), then every [`PERIOD`] until `cancel`. Returns the readings.
pub async fn start(
    probe: Probe,
    limits: Thresholds,
    piece: Piece,
    cancel: CancellationToken,
) -> watch::Receiver<Option<Board>> {
    let (tx, rx) = watch::channel(None);
    let mut published = None;
    sample(&probe, &limits, &piece, &tx, &mut published).await;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => sample(&probe, &limits, &piece, &tx, &mut published).await,
            }
        }
    });
    rx
}

async fn sample(
    probe: &Probe,
    limits: &Thresholds,
    piece: &Piece,
    tx: &watch::Sender<Option<Board>>,
    published: &mut Option<crate::piece::state::BoardStatus>,
) {
    let probe = probe.clone();
    let Ok(board) = tokio::task::spawn_blocking(move || probe.read()).await else {
        return;
    };
    let status = health::status(&board, limits);
    if health::worth_publishing(published.as_ref(), &status) {
        for w in status
            .warnings
            .iter()
            .filter(|w| !published.as_ref().is_some_and(|p| p.warnings.contains(w)))
        {
            tracing::warn!("board: {w}");
        }
        piece.report_board(status.clone());
        *published = Some(status);
    }
    tx.send_replace(Some(board));
}
