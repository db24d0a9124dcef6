//! Accepting TCP connections without spinning: the one accept step of
//! easeld's two listeners (HTTP in `web/mod.rs`, the embedded broker in
//! `mqtt/front.rs`).
//!
//! An accept that fails because the process is out of file descriptors
//! (EMFILE, ENFILE) or memory fails again at once as long as the
//! connection waits in the backlog: a loop that retries straight away
//! spins a core and, if it logs, fills the disk (16 GB of log in 15 s, the
//! embedded broker's own loop before this one). So such an error waits
//! [`BACKOFF`] before the next try, and is logged through the daemon's
//! rate-limited log (`crate::logs`). An error that concerns only the one
//! connection (it was reset before it was accepted) does not wait.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How long an accept that failed for want of resources waits.
pub const BACKOFF: Duration = Duration::from_millis(250);

/// Accept errors that concern one connection (it went away before it was
/// accepted), not the listener: the next accept may go ahead at once.
pub fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// The next connection on `listener`, or `None` after an error (logged
/// as `what`, and waited out when it is not the connection's own).
pub async fn next(listener: &TcpListener, what: &str) -> Option<(TcpStream, SocketAddr)> {
    match listener.accept().await {
        Ok(accepted) => Some(accepted),
        Err(e) if is_connection_error(&e) => None,
        Err(e) => {
            tracing::error!("{what}: accepting a connection: {e}");
            tokio::time::sleep(BACKOFF).await;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn only_a_connection_s_own_errors_skip_the_wait() {
        assert!(is_connection_error(&Error::from(
            ErrorKind::ConnectionReset
        )));
        assert!(is_connection_error(&Error::from(
            ErrorKind::ConnectionAborted
        )));
        // EMFILE
        assert!(!is_connection_error(&Error::from_raw_os_error(24)));
        // ENFILE
        assert!(!is_connection_error(&Error::from_raw_os_error(23)));
    }
}
