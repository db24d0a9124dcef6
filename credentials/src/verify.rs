//! Reading a picture's Content Credentials back: whether the manifest
//! validates, and what it says (`easel verify`, and the signer's own
//! start-up proof). The verdict is the SDK's; this module only sorts it
//! into what a person asks: is it intact, who signed it, what made it.
//!
//! States follow the C2PA specification: `Trusted` needs the signer's CA
//! among the trust anchors given; `Valid` is intact and correctly signed
//! by a certificate the reader does not know (every self-issued
//! credential, the per-installation one included); `Invalid` is anything
//! changed or badly signed; `Absent` is a picture without a manifest.

use c2pa::{Context, Reader, ValidationState};
use serde::Serialize;
use serde_json::Value;
use std::io::Cursor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Absent,
    Invalid,
    Valid,
    Trusted,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Absent => "no Content Credentials",
            State::Invalid => "INVALID",
            State::Valid => "valid (signer not on a trust list given)",
            State::Trusted => "valid and trusted",
        })
    }
}

/// What a picture's manifest says and whether it holds.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub state: State,
    /// Validation failures (`code: explanation`); an untrusted signer is a
    /// failure code too, listed here, though it leaves the state `Valid`.
    pub failures: Vec<String>,
    /// `name version` of each claim generator.
    pub generator: Vec<String>,
    /// The `digitalSourceType` of every action, in order.
    pub digital_source_types: Vec<String>,
    /// Every action's name, in order.
    pub actions: Vec<String>,
    /// easel's own assertion, when present.
    pub easel: Option<Value>,
    pub signer: Option<String>,
    pub issuer: Option<String>,
    pub signed_at: Option<String>,
    /// The SDK's whole report, JSON.
    #[serde(skip)]
    pub report: String,
}

/// The SDK settings for reading: trust anchors as given, nothing fetched.
fn reading_settings(trust_anchors_pem: &[String]) -> Value {
    let mut trust = serde_json::json!({});
    if !trust_anchors_pem.is_empty() {
        trust["trust_anchors"] = Value::String(trust_anchors_pem.concat());
    }
    serde_json::json!({
        "verify": {
            "verify_trust": true,
            "remote_manifest_fetch": false,
            "ocsp_fetch": false,
        },
        "trust": trust,
    })
}

/// Reads and validates the manifest of a PNG. `trust_anchors_pem`: CA
/// certificates (PEM) whose signers count as trusted.
pub fn read(png: &[u8], trust_anchors_pem: &[String]) -> Verdict {
    let mut verdict = Verdict {
        state: State::Absent,
        failures: Vec::new(),
        generator: Vec::new(),
        digital_source_types: Vec::new(),
        actions: Vec::new(),
        easel: None,
        signer: None,
        issuer: None,
        signed_at: None,
        report: String::new(),
    };
    let context = match Context::new().with_settings(reading_settings(trust_anchors_pem)) {
        Ok(c) => c,
        Err(e) => {
            verdict.state = State::Invalid;
            verdict.failures.push(format!("trust anchors: {e}"));
            return verdict;
        }
    };
    let reader = match Reader::from_context(context).with_stream("image/png", Cursor::new(png)) {
        Ok(r) => r,
        Err(c2pa::Error::JumbfNotFound) => return verdict,
        Err(e) => {
            verdict.state = State::Invalid;
            verdict.failures.push(e.to_string());
            return verdict;
        }
    };
    verdict.state = match reader.validation_state() {
        ValidationState::Invalid => State::Invalid,
        ValidationState::Valid => State::Valid,
        ValidationState::Trusted => State::Trusted,
    };
    verdict.report = reader.json();
    if let Some(codes) = reader
        .validation_results()
        .and_then(|r| r.active_manifest())
    {
        verdict.failures = codes
            .failure()
            .iter()
            .map(|s| match s.explanation() {
                Some(why) => format!("{}: {why}", s.code()),
                None => s.code().to_string(),
            })
            .collect();
    }
    let Some(manifest) = reader.active_manifest() else {
        return verdict;
    };
    verdict.generator = manifest
        .claim_generator_info
        .iter()
        .flatten()
        .map(|g| match &g.version {
            Some(v) => format!("{} {v}", g.name),
            None => g.name.clone(),
        })
        .collect();
    for assertion in manifest.assertions() {
        let Ok(value) = assertion.value() else {
            continue;
        };
        if assertion.label().starts_with("c2pa.actions") {
            for action in value["actions"].as_array().into_iter().flatten() {
                verdict
                    .actions
                    .push(action["action"].as_str().unwrap_or_default().to_string());
                if let Some(t) = action["digitalSourceType"].as_str() {
                    verdict.digital_source_types.push(t.to_string());
                }
            }
        } else if assertion.label() == crate::manifest::ASSERTION {
            verdict.easel = Some(value.clone());
        }
    }
    if let Some(info) = manifest.signature_info() {
        verdict.signer = info.common_name.clone();
        verdict.issuer = info.issuer.clone();
        verdict.signed_at = info.time.clone();
    }
    verdict
}

/// Whether a PNG carries an embedded C2PA manifest (a `caBX` chunk),
/// without validating it: a cheap walk over the chunk headers.
pub fn carries_manifest(png: &[u8]) -> bool {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !png.starts_with(SIGNATURE) {
        return false;
    }
    let mut at = SIGNATURE.len();
    while let Some(header) = png.get(at..at + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        match &header[4..8] {
            b"caBX" => return true,
            b"IEND" => return false,
            _ => at = at.saturating_add(12).saturating_add(len),
        }
    }
    false
}
