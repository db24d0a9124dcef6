//! `/api/state`, `/healthz` and `/metrics`: what a technician, a monitoring
//! system or a fleet dashboard reads. Health is a pure function of the
//! piece's state and the MQTT link, so it can be tested without a daemon.
//!
//! A failing frame source (camera unplugged) is a warning, not a failure:
//! `/healthz` stays 200 while the fallback shows something, because a
//! supervisor restarting the daemon would not bring a camera back, and the
//! piece keeps working. The body says why (`warnings`, `source`). So is
//! a signing credential that cannot be used (pictures are still made,
//! with their text provenance but without Content Credentials) and board
//! trouble (low disk, heat, throttling: `crate::board`). So is
//! a model that runs on tract because onnxruntime could not take it (no
//! library, a missing provider): the piece shows pictures, and the
//! warning, which names onnxruntime, says what to fix.

use super::Web;
use crate::piece::state::State as PieceState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The verdict of `/healthz`, with every reason it is not healthy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub ok: bool,
    pub model: Option<String>,
    pub mqtt_connected: bool,
    pub reasons: Vec<String>,
    /// Degraded but working (a camera missing, its fallback shown).
    pub warnings: Vec<String>,
    pub source: Option<crate::source::SourceStatus>,
}

impl Health {
    pub fn of(state: &PieceState, mqtt_connected: bool) -> Health {
        let mut reasons = Vec::new();
        if state.model.is_none() {
            reasons.push("no model loaded".to_string());
        }
        if !mqtt_connected {
            reasons.push("MQTT broker not connected".to_string());
        }
        let warnings = state
            .source
            .iter()
            .filter_map(|s| s.warning.clone())
            .chain(state.credentials.iter().filter_map(|c| c.warning.clone()))
            .chain(state.board.iter().flat_map(|b| b.warnings.iter().cloned()))
            .chain(state.models.iter().flat_map(|m| {
                m.warnings
                    .iter()
                    .map(move |w| format!("model {}: {w}", m.name))
            }))
            .collect();
        Health {
            ok: reasons.is_empty(),
            model: state.model.clone(),
            mqtt_connected,
            reasons,
            warnings,
            source: state.source.clone(),
        }
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

pub fn current_health(web: &Web) -> Health {
    let connected = *web.piece.mqtt_connected.borrow();
    Health::of(&web.piece.state.borrow(), connected)
}

pub async fn healthz(State(web): State<Web>) -> Response {
    let health = current_health(&web);
    let status = if health.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(
        status,
        serde_json::to_string(&health).expect("health serialises"),
    )
}

pub async fn state(State(web): State<Web>) -> Response {
    let body = web.piece.state.borrow().to_json();
    json(StatusCode::OK, body)
}

pub async fn metrics(State(web): State<Web>) -> Response {
    let m = &web.piece.metrics;
    // Gauges that mirror other owners' values are read at scrape time, so
    // they can never drift from the truth.
    m.mqtt_connected
        .set(i64::from(*web.piece.mqtt_connected.borrow()));
    let (pictures, bytes) = web.piece.archive.usage();
    m.archive_images.set(pictures as i64);
    m.archive_bytes.set(bytes as i64);
    m.board.set(web.board.borrow().as_ref());
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    )
        .into_response()
}

/// Every unknown path: a plain 404, never a page that could end on a kiosk.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        "not found\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_needs_model_and_mqtt() {
        let mut state = crate::piece::state::initial("n");
        let h = Health::of(&state, true);
        assert!(!h.ok);
        assert_eq!(h.reasons, vec!["no model loaded"]);
        state.model = Some("dcgan-64".into());
        assert!(Health::of(&state, true).ok);
        let h = Health::of(&state, false);
        assert!(!h.ok);
        assert_eq!(h.reasons, vec!["MQTT broker not connected"]);
    }

    #[test]
    fn an_engine_fallback_warns_but_stays_healthy() {
        let mut state = crate::piece::state::initial("n");
        state.model = Some("dcgan-64".into());
        state.models.push(crate::piece::state::ModelSummary {
            name: "dcgan-64".into(),
            kind: "latent".into(),
            sha256: "ab".into(),
            width: 64,
            height: 64,
            engine: Some("tract".into()),
            provider: Some("cpu".into()),
            warnings: vec!["onnxruntime: no library; it runs on tract instead".into()],
        });
        let h = Health::of(&state, true);
        assert!(h.ok);
        assert_eq!(
            h.warnings,
            vec!["model dcgan-64: onnxruntime: no library; it runs on tract instead"]
        );
    }

    #[test]
    fn a_failing_source_warns_but_stays_healthy() {
        let mut state = crate::piece::state::initial("n");
        state.model = Some("style-256".into());
        state.source = Some(crate::source::SourceStatus {
            uri: "v4l:///dev/video0".into(),
            ok: false,
            showing: Some("test://pattern".into()),
            warning: Some("source v4l:///dev/video0 failing (no camera)".into()),
        });
        let h = Health::of(&state, true);
        assert!(h.ok);
        assert_eq!(
            h.warnings,
            vec!["source v4l:///dev/video0 failing (no camera)"]
        );
        let body = serde_json::to_value(&h).unwrap();
        assert_eq!(body["source"]["ok"], false);
    }

    #[test]
    fn an_unusable_credential_warns_but_stays_healthy() {
        let mut state = crate::piece::state::initial("n");
        state.model = Some("dcgan-64".into());
        state.credentials = Some(crate::piece::state::CredentialsStatus {
            signing: false,
            signer: None,
            origin: "configured".into(),
            warning: Some("content credentials unavailable (no key)".into()),
        });
        let h = Health::of(&state, true);
        assert!(h.ok);
        assert_eq!(h.warnings, vec!["content credentials unavailable (no key)"]);
    }

    #[test]
    fn board_warnings_are_warnings_not_failures() {
        let mut state = crate::piece::state::initial("n");
        state.model = Some("dcgan-64".into());
        state.board = Some(crate::piece::state::BoardStatus {
            disk_free_bytes: Some(1),
            disk_total_bytes: Some(2),
            memory_available_bytes: None,
            memory_total_bytes: None,
            temperature_c: None,
            throttled: None,
            warnings: vec!["low disk space".into()],
        });
        let h = Health::of(&state, true);
        assert!(h.ok);
        assert_eq!(h.warnings, vec!["low disk space"]);
    }
}
