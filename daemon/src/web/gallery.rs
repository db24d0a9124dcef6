//! `/`: the kiosk gallery page. The HTML, CSS and script live in
//! `gallery.html` beside this file and are compiled into the binary, so
//! the page never depends on a network or a file next to the daemon.

use axum::http::header;
use axum::response::{IntoResponse, Response};

pub const PAGE: &str = include_str!("gallery.html");

pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // A new daemon may bring a new page; the kiosk asks each load.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}
