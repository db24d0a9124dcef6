//! Keeps the opening hours: at start and at every change, tells the piece
//! whether it is open and runs the display hook. It wakes at least once a
//! minute, so a clock set late (a Raspberry Pi has no clock of its own and
//! boots at the last saved time until NTP answers) or a time-zone change
//! is followed within a minute.

use super::ScheduleConfig;
use super::hours::Status;
use crate::piece::Piece;
use crate::piece::state::ScheduleStatus;
use jiff::Timestamp;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The longest the task sleeps without looking at the clock.
const RECHECK: Duration = Duration::from_secs(60);
/// A hook that has not finished by then is killed.
const HOOK_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(config: ScheduleConfig, piece: Piece, cancel: CancellationToken) {
    let mut was_open: Option<bool> = None;
    loop {
        let now = Timestamp::now();
        let status = config.schedule.at(now);
        piece.set_schedule(report(&status, &config.zone_name));
        if was_open != Some(status.open) {
            match status.open {
                true => {
                    tracing::info!(until = ?status.next_change.map(|t| t.to_string()), "schedule: open")
                }
                false => {
                    tracing::info!(until = ?status.next_change.map(|t| t.to_string()), "schedule: closed")
                }
            }
            let hook = match status.open {
                true => &config.hooks.on_open,
                false => &config.hooks.on_close,
            };
            // The hook runs at start too: after a power cut the display
            // is in whatever state the cut left it.
            if !hook.is_empty() {
                let hook = hook.clone();
                tokio::spawn(run_hook(hook));
            }
            was_open = Some(status.open);
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(wait(&status, now)) => {}
        }
    }
}

/// How the state shows a status.
pub fn report(status: &Status, zone: &str) -> ScheduleStatus {
    ScheduleStatus {
        open: status.open,
        next_change: status.next_change.map(|t| t.to_string()),
        timezone: zone.to_string(),
    }
}

/// Until the next change, but never longer than [`RECHECK`]; at least a
/// few milliseconds, so a change that is due is not spun on.
fn wait(status: &Status, now: Timestamp) -> Duration {
    let until = status
        .next_change
        .and_then(|t| Duration::try_from(t.duration_since(now)).ok())
        .unwrap_or(RECHECK);
    until.clamp(Duration::from_millis(10), RECHECK)
}

async fn run_hook(command: Vec<String>) {
    let mut child = match tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            return tracing::warn!(command = ?command, "schedule: the hook did not start: {e}");
        }
    };
    match tokio::time::timeout(HOOK_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => {
            tracing::info!(command = ?command, "schedule: hook ran")
        }
        Ok(Ok(status)) => tracing::warn!(command = ?command, "schedule: the hook failed: {status}"),
        Ok(Err(e)) => tracing::warn!(command = ?command, "schedule: waiting for the hook: {e}"),
        Err(_) => {
            tracing::warn!(command = ?command, "schedule: the hook ran past {HOOK_TIMEOUT:?}; killed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_until_the_change_but_looks_every_minute() {
        let now: Timestamp = "2026-12-01T09:59:00Z".parse().unwrap();
        let soon = Status {
            open: false,
            next_change: Some("2026-12-01T09:59:30Z".parse().unwrap()),
        };
        assert_eq!(wait(&soon, now), Duration::from_secs(30));
        let later = Status {
            open: false,
            next_change: Some("2026-12-01T18:00:00Z".parse().unwrap()),
        };
        assert_eq!(wait(&later, now), RECHECK);
        let never = Status {
            open: true,
            next_change: None,
        };
        assert_eq!(wait(&never, now), RECHECK);
        let due = Status {
            open: true,
            next_change: Some(now),
        };
        assert_eq!(wait(&due, now), Duration::from_millis(10));
    }
}
