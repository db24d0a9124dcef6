//! How easeld logs: to stderr, filtered by `RUST_LOG` (default
//! [`DEFAULT_FILTER`]), coloured only on a terminal.
//!
//! Under systemd stderr is the journal: colour codes there are noise in
//! `journalctl` and in every log shipper after it, and journald stamps
//! each line itself, so easeld's own timestamp goes too. A pipe or a file
//! (a test harness, `2>log`) gets no colours either. `NO_COLOR` turns
//! colours off even on a terminal (no-color.org).
//!
//! Every line goes through a per-callsite quota (`quota`): a line that
//! repeats in a loop is written a few times, then counted.

pub mod quota;

use std::ffi::OsStr;
use std::io::IsTerminal;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What is logged without `RUST_LOG`. The embedded broker (the `mqtt5`
/// crate) logs every client's connect and disconnect at info: a gallery's
/// controllers reconnecting after a network blip would bury the daemon's
/// own lines, so its info lines are debug detail here
/// (`RUST_LOG=info,mqtt5=info` shows them again).
pub const DEFAULT_FILTER: &str = "info,tract=warn,mqtt5=warn";

/// Installs the subscriber for the process (`main` calls it once).
pub fn init() {
    let stderr = std::io::stderr();
    let colour = colour(
        stderr.is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let journal = std::env::var("JOURNAL_STREAM").ok();
    let stamped_by_journald = rustix::fs::fstat(&stderr)
        .ok()
        .is_some_and(|st| is_journal(journal.as_deref(), st.st_dev, st.st_ino));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| DEFAULT_FILTER.into());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    let layer = if stamped_by_journald {
        layer.without_time().boxed()
    } else {
        layer.boxed()
    };
    let limit = quota::RateLimit::new();
    tracing_subscriber::registry()
        .with(layer.with_filter(filter.and(limit.clone())))
        .init();
    quota::flush(limit);
}

/// Colours only on a terminal, and not when `NO_COLOR` is set non-empty.
pub fn colour(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// Whether stderr is the journal: systemd sets `JOURNAL_STREAM` to
/// `<device>:<inode>` of the stream it connected (a child whose stderr
/// was redirected inherits the variable, hence the comparison).
pub fn is_journal(journal_stream: Option<&str>, dev: u64, ino: u64) -> bool {
    journal_stream
        .and_then(|v| v.split_once(':'))
        .is_some_and(|(d, i)| d.parse() == Ok(dev) && i.parse() == Ok(ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(
            colour(true, Some(OsStr::new(""))),
            "empty NO_COLOR is unset"
        );
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None), "a pipe or the journal: no colour");
    }

    #[test]
    fn the_journal_is_recognised_by_device_and_inode() {
        assert!(is_journal(Some("8:12345"), 8, 12345));
        assert!(!is_journal(Some("8:12345"), 8, 1), "stderr redirected");
        assert!(!is_journal(None, 8, 12345));
        assert!(!is_journal(Some("garbage"), 8, 12345));
    }
}
