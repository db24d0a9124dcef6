//! Events the piece publishes (CONTRACT.md, `P/N/event`): a result or an
//! error per request, echoing its `request_id`. The JSON shape is the
//! contract; the MQTT and web edges serialise these values unchanged.

use crate::picture::{Provenance, RgbImage, encode_png_with};
use serde::Serialize;
use std::sync::{Arc, OnceLock};

/// One event, as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Generated(Generated),
    Error(ErrorEvent),
    /// A command without a picture of its own (model, mode, params…) was
    /// carried out; sent only when the command had a `request_id`.
    Done(Done),
    /// Model deploy (docs/deploy.md); `request_id` is the transfer id.
    DeployProgress(super::deploy::DeployProgress),
    Deployed(super::deploy::Deployed),
    Activated(super::deploy::Activated),
    RolledBack(super::deploy::RolledBack),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Done {
    pub request_id: Option<String>,
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generated {
    pub request_id: Option<String>,
    /// Archive id: the picture is at `url`.
    pub id: String,
    pub model: String,
    pub seed: Option<u64>,
    pub url: String,
    pub width: u32,
    pub height: u32,
    /// From the command's arrival to the picture in the archive.
    pub latency_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorEvent {
    pub request_id: Option<String>,
    /// A stable machine-readable name (`invalid_json`, `unknown_model`, …).
    pub code: String,
    pub message: String,
}

impl Event {
    pub fn error(request_id: Option<String>, code: &str, message: impl Into<String>) -> Event {
        Event::Error(ErrorEvent {
            request_id,
            code: code.into(),
            message: message.into(),
        })
    }

    /// The request this event answers, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Event::Generated(e) => e.request_id.as_deref(),
            Event::Error(e) => e.request_id.as_deref(),
            Event::Done(e) => e.request_id.as_deref(),
            Event::DeployProgress(e) => e.request_id.as_deref(),
            Event::Deployed(e) => e.request_id.as_deref(),
            Event::Activated(e) => e.request_id.as_deref(),
            Event::RolledBack(e) => e.request_id.as_deref(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events always serialise")
    }
}

/// A displayed frame (morph and live modes) for the page: not archived,
/// newest wins. Encoded to PNG only when a page asks for it: at hundreds of
/// frames a second most frames are never fetched (a screen shows 60), and
/// encoding every one would take the cores inference needs.
#[derive(Debug, Clone)]
pub struct Frame {
    pub seq: u64,
    pub model: String,
    pub seed: Option<u64>,
    pub width: u32,
    pub height: u32,
    picture: Arc<(RgbImage, Provenance)>,
    png: Arc<OnceLock<Vec<u8>>>,
}

impl Frame {
    pub fn new(seq: u64, image: RgbImage, provenance: Provenance) -> Frame {
        Frame {
            seq,
            model: provenance.model.clone(),
            seed: provenance.seed,
            width: image.width,
            height: image.height,
            picture: Arc::new((image, provenance)),
            png: Arc::new(OnceLock::new()),
        }
    }

    pub fn image(&self) -> &RgbImage {
        &self.picture.0
    }

    /// The frame as a PNG with its provenance, encoded once, for speed.
    /// Blocking work: call it off the async threads.
    pub fn png(&self) -> &[u8] {
        self.png.get_or_init(|| {
            let (image, provenance) = &*self.picture;
            encode_png_with(image, provenance, png::Compression::Fastest)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_shapes() {
        let g = Event::Generated(Generated {
            request_id: Some("r1".into()),
            id: "abc".into(),
            model: "m".into(),
            seed: Some(7),
            url: "/images/abc.png".into(),
            width: 64,
            height: 32,
            latency_ms: 12.5,
        });
        let v: serde_json::Value = serde_json::from_str(&g.to_json()).unwrap();
        assert_eq!(v["type"], "generated");
        assert_eq!(v["request_id"], "r1");
        assert_eq!(v["url"], "/images/abc.png");
        assert_eq!(v["seed"], 7);
        let e: serde_json::Value =
            serde_json::from_str(&Event::error(None, "invalid_json", "bad").to_json()).unwrap();
        assert_eq!(
            e,
            serde_json::json!({"type":"error","request_id":null,"code":"invalid_json","message":"bad"})
        );
    }
}
