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
//!
//! What the state does not carry is read at request time ([`Checks`]):
//! the engine's heartbeat and faults (a worker stuck with no progress is a
//! failure, 503: no new picture can be made; a crash survived, a model
//! refused, the default model replaced by another are warnings), the
//! archive's last write failure and the deploy store's damaged pointers.

use super::Web;
use crate::piece::state::State as PieceState;
use crate::service::watchdog;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use easel_engine::Work;
use easel_engine::worker::Faults;
use serde::Serialize;
use std::time::{Duration, Instant};

/// How long the engine may show no progress before `/healthz` says it is
/// stuck: a render far longer than any picture takes on a board; a load
/// gets the watchdog's allowance.
pub const STUCK: watchdog::Limits = watchdog::Limits {
    running: Duration::from_secs(60),
    loading: watchdog::LOAD_ALLOWANCE,
};

/// The facts `/healthz` reads besides the piece's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checks {
    /// No progress for this long while doing this (over [`STUCK`]).
    pub engine_stuck: Option<(Work, Duration)>,
    pub engine: Faults,
    pub default_model: Option<String>,
    /// Why the archive's last write failed, until one works.
    pub archive: Option<String>,
    /// Damaged pointers, missing versions (`deploy::store::problems`).
    pub deploy: Vec<String>,
}

impl Checks {
    /// The default model is not among the loaded ones, though another is
    /// (it loads first: so it failed, or was never there): why, if known.
    pub fn default_unavailable(&self, state: &PieceState) -> Option<String> {
        let default = self.default_model.as_ref()?;
        if state.models.is_empty() || state.models.iter().any(|m| &m.name == default) {
            return None;
        }
        let why = self
            .engine
            .refused
            .iter()
            .find(|(n, _)| n == default)
            .map(|(_, why)| why.clone())
            .or_else(|| {
                self.engine
                    .crashed
                    .iter()
                    .find(|(n, _)| n == default)
                    .map(|(_, why)| format!("the engine crashed on it: {why}"))
            })
            .unwrap_or_else(|| "no package of that name".into());
        let instead = state.model.as_deref().unwrap_or("none");
        Some(format!(
            "default model {default} is not available ({why}); showing {instead} instead"
        ))
    }
}

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

    /// Adds what [`Checks`] found: a stuck engine fails health; the rest warn.
    pub fn with(mut self, state: &PieceState, checks: &Checks) -> Health {
        if let Some((work, quiet)) = checks.engine_stuck {
            let doing = match work {
                Work::Loading => "loading a model",
                _ => "rendering",
            };
            self.reasons.push(format!(
                "the engine shows no progress for {} s while {doing}: no new picture can be made",
                quiet.as_secs()
            ));
        }
        let faults = &checks.engine;
        if faults.restarts > 0 {
            self.warnings.push(format!(
                "the inference worker was restarted ({} times; last: {})",
                faults.restarts,
                faults.last_restart.as_deref().unwrap_or("unknown")
            ));
        }
        for (model, why) in &faults.crashed {
            self.warnings.push(format!(
                "model {model}: the engine crashed running it ({why}); it is unloaded"
            ));
        }
        self.warnings.extend(checks.default_unavailable(state));
        for (model, why) in &faults.refused {
            self.warnings
                .push(format!("model {model} not loaded: {why}"));
        }
        if let Some(fault) = &checks.archive {
            self.warnings.push(format!("archive: {fault}"));
        }
        self.warnings.extend(checks.deploy.iter().cloned());
        self.ok = self.reasons.is_empty();
        self
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

/// Reads [`Checks`] now (a stat or two of the deploy store, no more).
pub fn current_checks(web: &Web) -> Checks {
    let engine = web.engine.as_ref();
    let engine_stuck =
        engine.and_then(
            |e| match watchdog::verdict(e.heartbeat(), Instant::now(), &STUCK) {
                watchdog::Verdict::Stuck { work, quiet } => Some((work, quiet)),
                watchdog::Verdict::Alive => None,
            },
        );
    Checks {
        engine_stuck,
        engine: engine.map(|e| e.faults()).unwrap_or_default(),
        default_model: web.default_model.as_deref().map(str::to_string),
        archive: web.piece.archive.fault(),
        deploy: web
            .data_dir
            .as_deref()
            .map(crate::deploy::store::problems)
            .unwrap_or_default(),
    }
}

pub fn current_health(web: &Web) -> Health {
    let connected = *web.piece.mqtt_connected.borrow();
    let checks = current_checks(web);
    let state = web.piece.state.borrow().clone();
    Health::of(&state, connected).with(&state, &checks)
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
    let checks = current_checks(&web);
    let state = web.piece.state.borrow().clone();
    m.faults.set(&checks, &state);
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
        loaded(&mut state, "dcgan-64");
        state.models[0].warnings = vec!["onnxruntime: no library; it runs on tract instead".into()];
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

    fn loaded(state: &mut PieceState, name: &str) {
        state.models.push(crate::piece::state::ModelSummary {
            name: name.into(),
            kind: "latent".into(),
            sha256: "ab".into(),
            width: 64,
            height: 64,
            engine: Some("tract".into()),
            provider: Some("cpu".into()),
            warnings: vec![],
        });
        state.model.get_or_insert_with(|| name.into());
    }

    /// Regression: with the engine thread dead or stuck, `/healthz` said
    /// 200 and no picture was ever made again.
    #[test]
    fn a_stuck_engine_fails_health() {
        let mut state = crate::piece::state::initial("n");
        loaded(&mut state, "dcgan-64");
        let checks = Checks {
            engine_stuck: Some((Work::Running, Duration::from_secs(75))),
            ..Checks::default()
        };
        let h = Health::of(&state, true).with(&state, &checks);
        assert!(!h.ok);
        assert_eq!(
            h.reasons,
            ["the engine shows no progress for 75 s while rendering: no new picture can be made"]
        );
    }

    /// Regression: the default model refused, the piece silently showed
    /// another with `warnings: []`.
    #[test]
    fn faults_the_piece_survives_are_warnings_with_reasons() {
        let mut state = crate::piece::state::initial("n");
        loaded(&mut state, "cppn-aurora");
        let checks = Checks {
            default_model: Some("dcgan-64".into()),
            engine: Faults {
                restarts: 1,
                last_restart: Some("boom".into()),
                crashed: vec![],
                refused: vec![("dcgan-64".into(), "tensor \"big\" needs 2048 MB".into())],
            },
            archive: Some("cannot store pictures in /d/images: No space left on device".into()),
            deploy: vec!["deployed model x: pointer damaged (eof)".into()],
            ..Checks::default()
        };
        let h = Health::of(&state, true).with(&state, &checks);
        assert!(h.ok, "{h:?}");
        assert_eq!(
            h.warnings,
            [
                "the inference worker was restarted (1 times; last: boom)",
                "default model dcgan-64 is not available (tensor \"big\" needs 2048 MB); showing cppn-aurora instead",
                "model dcgan-64 not loaded: tensor \"big\" needs 2048 MB",
                "archive: cannot store pictures in /d/images: No space left on device",
                "deployed model x: pointer damaged (eof)",
            ]
        );
        let mut fine = state.clone();
        loaded(&mut fine, "dcgan-64");
        assert_eq!(
            Checks {
                engine: Faults::default(),
                ..checks
            }
            .default_unavailable(&fine),
            None
        );
    }
}
