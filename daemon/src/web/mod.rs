//! The web edge (docs/contract.md, "HTTP"): the kiosk gallery page, archived
//! pictures, live updates, state, health, metrics and the technician view.
//!
//! It only watches what the piece publishes and sends it commands (admin
//! buttons); it never renders or archives anything itself. Everything the
//! page needs is compiled into the binary: a kiosk on a gallery network may
//! have no internet, and a page that half-loads is a blank screen.

pub mod admin;
pub mod gallery;
pub mod health;
pub mod images;
pub mod live;

use crate::piece::Piece;
use axum::Router;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct Web {
    pub piece: Piece,
    /// `None`: `/admin` shows, but refuses every control.
    pub admin_token: Option<Arc<str>>,
    /// Ends the live streams at shutdown, so graceful shutdown can finish.
    pub cancel: CancellationToken,
    /// Tells the page (and a technician) that the daemon restarted.
    pub boot: Arc<str>,
    /// The newest reading of the board, for `/metrics` (`crate::board`).
    pub board: watch::Receiver<Option<crate::board::Board>>,
    /// The engine, for its heartbeat and faults in `/healthz`.
    pub engine: Option<easel_engine::Engine>,
    /// The configured default model, to tell when another stands in.
    pub default_model: Option<Arc<str>>,
    /// Where the deploy store is, for its problems in `/healthz`.
    pub data_dir: Option<Arc<std::path::Path>>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot listen on http://{addr}/: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl Web {
    pub fn new(piece: Piece, admin_token: Option<String>, cancel: CancellationToken) -> Web {
        let boot = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Web {
            piece,
            admin_token: admin_token.map(Into::into),
            cancel,
            boot: boot.to_string().into(),
            board: watch::channel(None).1,
            engine: None,
            default_model: None,
            data_dir: None,
        }
    }

    /// What `/healthz` checks beyond the piece's state (see `health::Checks`).
    pub fn with_checks(
        mut self,
        engine: easel_engine::Engine,
        default_model: &str,
        data_dir: &std::path::Path,
    ) -> Web {
        self.engine = Some(engine);
        self.default_model = Some(default_model.into());
        self.data_dir = Some(data_dir.into());
        self
    }

    /// Serves the board's readings from `board` (none without it).
    pub fn with_board(mut self, board: watch::Receiver<Option<crate::board::Board>>) -> Web {
        self.board = board;
        self
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(gallery::page))
            .route("/images/{file}", get(images::archived))
            .route("/frames/latest.png", get(images::latest_frame))
            .route("/live", get(live::stream))
            .route("/api/state", get(health::state))
            .route("/healthz", get(health::healthz))
            .route("/metrics", get(health::metrics))
            .route("/admin", get(admin::page))
            .route("/admin/recent", get(admin::recent))
            .route("/admin/cmd/{command}", post(admin::command))
            .fallback(health::not_found)
            .with_state(self)
    }
}

/// Binds `addr` (port 0 picks a free port) and returns the listener with
/// the address it really got.
pub async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), WebError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WebError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| WebError::Bind { addr, source })?;
    Ok((listener, local))
}

/// What one HTTP edge holds at most. A kiosk page and a technician need
/// a few connections; a scanner, a broken client or a hostile one must not
/// take the process's file descriptors (the broker shares them), so:
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HttpLimits {
    /// Connections served at once; more wait in the kernel's backlog
    /// (which costs the daemon no file descriptor) until one closes.
    pub max_connections: usize,
    /// How long a connection may take to send a request's headers, and
    /// how long it may sit idle between requests: hyper closes it then.
    /// Streams (`/live`) are not affected once their response has begun.
    pub header_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves until `web.cancel` fires, then lets open requests finish.
///
/// hyper's own connection loop rather than `axum::serve`: axum sets no
/// timer, so hyper's header-read timeout never runs, and it has no
/// connection cap. An accept that fails for want of file descriptors
/// waits before the next try instead of spinning (`crate::accept`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    web: Web,
    limits: HttpLimits,
) -> Result<(), WebError> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let cancel = web.cancel.clone();
    let router = web.router();
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => break,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = crate::accept::next(&listener, "http") => match accepted {
                Some((stream, _)) => stream,
                None => continue,
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let cancel = cancel.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    connections.close();
    connections.wait().await;
    Ok(())
}
