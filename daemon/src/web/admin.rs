//! `/admin`: the technician's view. Reading is open (model, health, recent
//! pictures with their seeds); every control needs the admin token
//! (`[http] admin_token` or `EASEL_ADMIN_TOKEN`) as `Authorization: Bearer`.
//! Without a configured token the controls are off, not open.
//!
//! Controls go through the same command decoding and the same piece as
//! MQTT commands, so a button does exactly what a controller would.

use super::Web;
use super::images::{Archived, describe};
use crate::piece::Incoming;
use crate::piece::command::{DEFAULT_MAX_PAYLOAD, parse};
use crate::piece::event::Event;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const PAGE: &str = include_str!("admin.html");

/// How long a button waits for its command's answer before answering 504.
pub const GENERATE_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}

#[derive(serde::Serialize)]
struct Recent {
    controls: bool,
    health: super::health::Health,
    pictures: Vec<Archived>,
}

/// The newest pictures with their provenance, and whether controls are on.
pub async fn recent(State(web): State<Web>) -> Response {
    let archive = web.piece.archive.clone();
    let pictures = tokio::task::spawn_blocking(move || {
        archive
            .recent(24)
            .iter()
            .filter_map(|id| describe(&archive, id))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let body = Recent {
        controls: web.admin_token.is_some(),
        health: super::health::current_health(&web),
        pictures,
    };
    reply(
        StatusCode::OK,
        serde_json::to_value(body).expect("serialises"),
    )
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// Compares in time independent of where the first difference is.
fn same_token(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request carries the configured token; `Err` says why not.
pub fn authorize(
    configured: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), (StatusCode, &'static str)> {
    let Some(token) = configured else {
        return Err((
            StatusCode::FORBIDDEN,
            "admin controls are off: set [http] admin_token",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same_token(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err((StatusCode::UNAUTHORIZED, "wrong or missing admin token"))
    }
}

static ADMIN_REQUESTS: AtomicU64 = AtomicU64::new(1);

/// `POST /admin/cmd/<command>` with the command's JSON payload. Answers
/// with the command's own answer event, as MQTT would publish it: 200 for
/// `generated`, `done`, `rolled_back` and the like, 422 for an `error`
/// event (an unknown model, a mode no model can serve), so the page shows
/// what really happened.
pub async fn command(
    State(web): State<Web>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err((status, why)) = authorize(web.admin_token.as_deref(), &headers) {
        return reply(status, serde_json::json!({"error": why}));
    }
    let mut request = parse(&name, &body, DEFAULT_MAX_PAYLOAD);
    if let Ok(r) = &mut request
        && r.request_id.is_none()
    {
        r.request_id = Some(format!(
            "admin-{}",
            ADMIN_REQUESTS.fetch_add(1, Ordering::Relaxed)
        ));
    }
    let wait_for = request.as_ref().ok().and_then(|r| r.request_id.clone());
    let refused = request.as_ref().err().cloned();
    // Subscribed before sending: the answer cannot slip past.
    let mut events = web.piece.events.subscribe();
    // Refusals go to the piece too, so they are counted and published
    // exactly like a bad MQTT command.
    if web
        .piece
        .commands
        .send(Incoming::now(request))
        .await
        .is_err()
    {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "the piece is stopping"}),
        );
    }
    if let Some(e) = refused {
        return reply(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": e.code, "message": e.message}),
        );
    }
    // Every accepted command carries a request id (given, or set above).
    let Some(wanted) = wait_for else {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": "no request id"}),
        );
    };
    let answer = tokio::time::timeout(GENERATE_TIMEOUT, async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    // A deploy's progress is not its answer.
                    if event.request_id() == Some(wanted.as_str())
                        && !matches!(event, Event::DeployProgress(_))
                    {
                        return Some(event);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    })
    .await;
    match answer {
        Ok(Some(event @ Event::Error(_))) => reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            serde_json::to_value(&event).expect("serialises"),
        ),
        Ok(Some(event)) => reply(
            StatusCode::OK,
            serde_json::to_value(&event).expect("serialises"),
        ),
        Ok(None) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "the piece is stopping"}),
        ),
        Err(_) => reply(
            StatusCode::GATEWAY_TIMEOUT,
            serde_json::json!({"error": "no answer in time", "request_id": wanted}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn controls_need_the_configured_token() {
        assert_eq!(
            authorize(None, &bearer("Bearer anything")).unwrap_err().0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            authorize(Some("s3cret-token"), &HeaderMap::new())
                .unwrap_err()
                .0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            authorize(Some("s3cret-token"), &bearer("Bearer s3cret-toke"))
                .unwrap_err()
                .0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            authorize(Some("s3cret-token"), &bearer("s3cret-token"))
                .unwrap_err()
                .0,
            StatusCode::UNAUTHORIZED
        );
        assert!(authorize(Some("s3cret-token"), &bearer("Bearer s3cret-token")).is_ok());
    }
}
