//! easeld as a systemd service (`packaging/systemd/easeld.service`,
//! `Type=notify`): the notify protocol over `NOTIFY_SOCKET` through the
//! `sd-notify` crate. `READY=1` once the first model can serve (the unit's
//! dependants, the kiosk above all, start then), `STATUS=` with the current
//! model, `WATCHDOG=1` every half `WATCHDOG_USEC` but only while the engine
//! shows progress (`watchdog`), `STOPPING=1` when shutdown begins.
//!
//! Without `NOTIFY_SOCKET` (a terminal, a test, another supervisor) every
//! call here does nothing. A notification that cannot be sent is logged
//! once and otherwise ignored: systemd's side going away must not take
//! the piece down.

pub mod limits;
pub mod status;
pub mod watchdog;

use crate::piece::state::State;
use easel_engine::Engine;
use sd_notify::NotifyState;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The daemon's side of the notify socket.
#[derive(Debug)]
pub struct Notifier {
    /// `NOTIFY_SOCKET` is set: someone listens.
    socket: bool,
    /// `WATCHDOG_USEC` (for this pid), when the unit has `WatchdogSec=`.
    watchdog: Option<Duration>,
    /// A send failed once already (logged then, not again).
    failed: AtomicBool,
}

impl Notifier {
    /// From the environment systemd gives a service.
    pub fn from_env() -> Notifier {
        Notifier {
            socket: std::env::var_os("NOTIFY_SOCKET").is_some(),
            watchdog: sd_notify::watchdog_enabled(),
            failed: AtomicBool::new(false),
        }
    }

    fn send(&self, states: &[NotifyState]) {
        if !self.socket {
            return;
        }
        if let Err(e) = sd_notify::notify(states)
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            tracing::warn!("systemd notification failed (not logged again): {e}");
        }
    }

    /// `READY=1` with the status line.
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    /// `STOPPING=1`: shutdown has begun (the picture in flight finishes).
    pub fn stopping(&self) {
        self.send(&[
            NotifyState::Stopping,
            NotifyState::Status("stopping: finishing the picture in flight"),
        ]);
    }

    fn ping(&self) {
        self.send(&[NotifyState::Watchdog]);
    }
}

/// Keeps systemd informed until `cancel`: `STATUS=` whenever the line
/// changes, and the watchdog's pings when the unit asked for them.
pub async fn supervise(
    notifier: Arc<Notifier>,
    engine: Engine,
    mut state: watch::Receiver<State>,
    cancel: CancellationToken,
) {
    if !notifier.socket {
        return;
    }
    let mut dog = notifier.watchdog.map(|interval| {
        tracing::info!(
            ?interval,
            "systemd watchdog: pinging while the engine makes progress"
        );
        let mut tick = tokio::time::interval(watchdog::ping_period(interval));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        (
            watchdog::Watchdog::new(watchdog::Limits::for_interval(interval)),
            tick,
        )
    });
    let mut shown = status::line(&state.borrow_and_update());
    loop {
        let tick = async {
            match dog.as_mut() {
                Some((_, tick)) => {
                    tick.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            changed = state.changed() => {
                if changed.is_err() {
                    break;
                }
                // Copied out at once: no `watch::Ref` held across anything.
                let line = status::line(&state.borrow_and_update());
                if line != shown {
                    notifier.status(&line);
                    shown = line;
                }
            }
            _ = tick => {
                let Some((dog, _)) = dog.as_mut() else { continue };
                let decision = dog.handle_tick(engine.heartbeat(), Instant::now());
                if decision.ping {
                    notifier.ping();
                }
                match decision.news {
                    Some(watchdog::News::Withheld { work, quiet }) => tracing::error!(
                        ?work,
                        ?quiet,
                        "the engine shows no progress: watchdog pings withheld, systemd will restart easeld"
                    ),
                    Some(watchdog::News::Resumed) => {
                        tracing::warn!("the engine moved again: watchdog pings resumed")
                    }
                    None => {}
                }
            }
        }
    }
}
