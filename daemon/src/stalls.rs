//! A stuck inference worker is replaced in place, without a restart.
//!
//! A job that never returns (a kernel that loops, a model whose compute
//! is beyond any board, a deadlock) freezes the screen while everything
//! else looks fine. The systemd watchdog would restart the whole daemon,
//! which loads the same model and hangs again; and without systemd nothing
//! would happen at all. So once a second the engine's heartbeat is
//! compared with the limits below, and a worker past them is replaced
//! (`easel_engine::Engine::replace_stuck`): the stuck job is answered, its
//! model refused (named in `/healthz`), the other models load again on a
//! new worker. The limits sit under the watchdog's (`WatchdogSec=60s`,
//! `service::watchdog::LOAD_ALLOWANCE`), so this comes first.

use easel_engine::Engine;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A render (a picture, a batch of frames, one live frame) with no
/// progress for this long is stuck: far longer than any picture takes on
/// a board.
pub const RUNNING: Duration = Duration::from_secs(30);

/// A model load with no progress for this long is stuck (a big model on
/// a Pi takes tens of seconds).
pub const LOADING: Duration = Duration::from_secs(240);

const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Watches `engine` until `cancel`.
pub async fn run(engine: Engine, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                if let Some(why) = engine.replace_stuck(Instant::now(), RUNNING, LOADING) {
                    tracing::error!("{why}");
                }
            }
        }
    }
}
