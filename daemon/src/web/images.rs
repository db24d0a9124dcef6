//! `/images/<id>.png` (archived pictures, immutable, cached for a year)
//! and `/frames/latest.png` (the newest morph/live frame, never cached).
//!
//! Only ids the archive itself validates and holds are read: a request can
//! never name a file outside the archive folder, whatever its encoding.

use super::Web;
use super::health::not_found;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub async fn archived(State(web): State<Web>, Path(file): Path<String>) -> Response {
    let Some(path) = file
        .strip_suffix(".png")
        .and_then(|id| web.piece.archive.path(id))
    else {
        return not_found().await;
    };
    // Evicted between lookup and read: the same 404 as never existing.
    let Ok(png) = tokio::fs::read(&path).await else {
        return not_found().await;
    };
    let etag =
        HeaderValue::from_str(&format!("\"{file}\"")).unwrap_or(HeaderValue::from_static("\"\""));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
            // An id names one picture forever: the browser never asks twice.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (header::ETAG, etag),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        png,
    )
        .into_response()
}

pub async fn latest_frame(State(web): State<Web>) -> Response {
    let Some(frame) = web.piece.frames.borrow().clone() else {
        return not_found().await;
    };
    let seq = frame.seq;
    let Ok(png) = tokio::task::spawn_blocking(move || frame.png().to_vec()).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    web.piece.metrics.frames_served.inc();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::HeaderName::from_static("x-easel-frame"),
                HeaderValue::from(seq),
            ),
        ],
        png,
    )
        .into_response()
}

/// An archived picture as the page and the technician view describe it,
/// read back from its own provenance (so it survives restarts).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Archived {
    pub id: String,
    pub url: String,
    pub model: Option<String>,
    pub seed: Option<u64>,
    /// It carries a C2PA manifest (Content Credentials).
    pub content_credentials: bool,
}

/// Reads picture `id`'s provenance; `None` if it is gone or unreadable.
/// Blocking: call from `spawn_blocking`.
pub fn describe(archive: &crate::archive::Archive, id: &str) -> Option<Archived> {
    let bytes = std::fs::read(archive.path(id)?).ok()?;
    let text = easel_engine::picture::read_png_text(&bytes).ok()?;
    let field = |key: &str| text.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    Some(Archived {
        id: id.to_string(),
        url: format!("/images/{id}.png"),
        model: field("easel:model"),
        seed: field("easel:seed").and_then(|s| s.parse().ok()),
        content_credentials: easel_credentials::verify::carries_manifest(&bytes),
    })
}
