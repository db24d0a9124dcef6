//! What the piece sends out: events (docs/contract.md, `P/N/event`; the
//! types are the protocol's, so the tools read exactly what is sent) and
//! the frames of morph and live modes, shown but never archived.

use easel_engine::picture::{Provenance, RgbImage, encode_png_with};
pub use easel_protocol::event::{
    Activated, DeployProgress, Deployed, Done, ErrorEvent, Event, Generated, RolledBack,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast;

/// The events channel, and a count of every event put into it: an edge
/// that must not miss one (MQTT: one answer per request) compares the count
/// with its own and holds its input while it is too far behind, instead of
/// letting the channel drop the oldest (`mqtt/client.rs`).
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<Event>,
    sent: Arc<AtomicU64>,
}

impl Events {
    pub fn new(capacity: usize) -> Events {
        Events {
            tx: broadcast::channel(capacity).0,
            sent: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counted first, so a reader never finds more received than sent.
    pub fn send(&self, event: Event) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Events sent since the start.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
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
