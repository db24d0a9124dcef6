//! The feed: a frame source on its own thread, its newest frame in a watch
//! channel (newest wins: a slow consumer never sees a backlog), and what to
//! do when the source fails.
//!
//! A source that cannot be opened, or that fails while running (a camera
//! unplugged), is reported in [`SourceHealth`] and logged once, and the feed
//! shows the fallback — the test pattern, or nothing when `[camera]
//! fallback = "still"` — while it retries the source with a growing delay
//! (`Retry`, pure). When the camera is back, its frames replace the pattern
//! without anyone asking.
//!
//! Frames cost CPU (the pattern tens of milliseconds each, a camera's
//! decoding a few), and a model takes a fraction of them, so the feed
//! makes a frame only when one is asked for ([`Feed::pull`]: live mode when
//! it is ready to paint, a capture): the next frame the source gives, made
//! fresh. Between pulls the source idles (`FrameSource::idle`), still open
//! and watched, so health is known from the start; a camera keeps
//! dequeuing (without decoding), so the frame a pull gets is current.

use super::pattern::{self, PatternSource};
use super::{CameraConfig, Fallback, Frame, FrameSource, SourceError};
pub use easel_protocol::state::SourceStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The test pattern's rate while it stands in for a failing source.
const FALLBACK_FPS: f32 = 10.0;

/// How the configured source is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceHealth {
    /// Not opened yet.
    Starting,
    /// Frames come from the configured source.
    Ok { uri: String },
    /// The configured source fails; the fallback is shown (or nothing).
    Failing {
        uri: String,
        error: String,
        fallback: Fallback,
    },
}

impl SourceHealth {
    /// What `state` and `/healthz` show of it.
    pub fn status(&self) -> SourceStatus {
        match self {
            SourceHealth::Starting => SourceStatus {
                uri: String::new(),
                ok: true,
                showing: None,
                warning: None,
            },
            SourceHealth::Ok { uri } => SourceStatus {
                uri: uri.clone(),
                ok: true,
                showing: Some(uri.clone()),
                warning: None,
            },
            SourceHealth::Failing { uri, fallback, .. } => SourceStatus {
                uri: uri.clone(),
                ok: false,
                showing: match fallback {
                    Fallback::Pattern => Some(pattern::URI.to_string()),
                    Fallback::Still => None,
                },
                warning: self.warning(),
            },
        }
    }

    /// A one-line warning for status pages, `None` when all is well.
    pub fn warning(&self) -> Option<String> {
        match self {
            SourceHealth::Failing {
                uri,
                error,
                fallback,
            } => Some(format!(
                "source {uri} failing ({error}); showing {}",
                match fallback {
                    Fallback::Pattern => "the test pattern",
                    Fallback::Still => "still images",
                }
            )),
            _ => None,
        }
    }
}

/// Delays between attempts to reopen a failed source: 0.5 s doubling to
/// 8 s, back to the start after a success. Pure: the caller passes `now`.
#[derive(Debug, Clone)]
pub struct Retry {
    failures: u32,
}

impl Retry {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(8);

    pub fn new() -> Retry {
        Retry { failures: 0 }
    }

    /// Records a failure at `now`; returns when to try again.
    pub fn handle_failure(&mut self, now: Instant) -> Instant {
        let delay = Self::FIRST
            .saturating_mul(1 << self.failures.min(16))
            .min(Self::MAX);
        self.failures += 1;
        now + delay
    }

    pub fn handle_success(&mut self) {
        self.failures = 0;
    }
}

impl Default for Retry {
    fn default() -> Self {
        Retry::new()
    }
}

/// A running feed. Dropping it stops the thread (after the frame in flight).
pub struct Feed {
    pub frames: watch::Receiver<Option<Frame>>,
    pub health: watch::Receiver<SourceHealth>,
    /// A frame was asked for and not yet made.
    pulled: Arc<AtomicBool>,
    cancel: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl Feed {
    /// Starts a feed on the source `uri` names.
    pub fn start(uri: &str, camera: CameraConfig) -> Feed {
        let owned = uri.to_string();
        let config = camera.clone();
        Feed::start_with(uri, camera, move || super::open(&owned, &config))
    }

    /// Starts a feed whose source comes from `open` (called again to reopen).
    pub fn start_with<F>(uri: &str, camera: CameraConfig, open: F) -> Feed
    where
        F: FnMut() -> Result<Box<dyn FrameSource>, SourceError> + Send + 'static,
    {
        let (frames_tx, frames) = watch::channel(None);
        let (health_tx, health) = watch::channel(SourceHealth::Starting);
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let uri = uri.to_string();
        let pulled = Arc::new(AtomicBool::new(false));
        let wanted = pulled.clone();
        let thread = std::thread::Builder::new()
            .name("easel-source".into())
            .spawn(move || run(uri, camera, open, frames_tx, health_tx, &wanted, token))
            .expect("spawning the source thread");
        Feed {
            frames,
            health,
            pulled,
            cancel,
            thread: Some(thread),
        }
    }

    /// Asks for one fresh frame: the next the source gives arrives on
    /// `frames`. Pulls before it is made count as one; a pull the source
    /// cannot serve (failing) is served by the fallback, or kept until the
    /// source is back (`fallback = "still"`).
    pub fn pull(&self) {
        self.pulled.store(true, Ordering::SeqCst);
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.cancel.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run<F>(
    uri: String,
    camera: CameraConfig,
    mut open: F,
    frames: watch::Sender<Option<Frame>>,
    health: watch::Sender<SourceHealth>,
    pulled: &AtomicBool,
    cancel: CancellationToken,
) where
    F: FnMut() -> Result<Box<dyn FrameSource>, SourceError>,
{
    let mut source: Option<Box<dyn FrameSource>> = None;
    let mut fallback: Option<PatternSource> = None;
    let mut retry = Retry::new();
    let mut next_attempt = Instant::now();
    let fail = |error: SourceError, retry: &mut Retry, next_attempt: &mut Instant| {
        let error = error.to_string();
        let failing = SourceHealth::Failing {
            uri: uri.clone(),
            error: error.clone(),
            fallback: camera.fallback,
        };
        // Log a failure once, not at every retry.
        if *health.borrow() != failing {
            tracing::warn!(source = %uri, %error, fallback = ?camera.fallback, "frame source failing; retrying in the background");
            health.send_replace(failing);
        }
        *next_attempt = retry.handle_failure(Instant::now());
    };
    while !cancel.is_cancelled() {
        if source.is_none() && Instant::now() >= next_attempt {
            match open() {
                Ok(s) => {
                    tracing::info!(source = %uri, "frame source open");
                    retry.handle_success();
                    fallback = None;
                    health.send_replace(SourceHealth::Ok { uri: uri.clone() });
                    source = Some(s);
                }
                Err(e) => fail(e, &mut retry, &mut next_attempt),
            }
        }
        let wanted = pulled.swap(false, Ordering::SeqCst);
        let frame = match (&mut source, camera.fallback) {
            (Some(s), _) if !wanted => match s.idle() {
                Ok(()) => None,
                Err(e) => {
                    source = None;
                    fail(e, &mut retry, &mut next_attempt);
                    None
                }
            },
            (Some(s), _) => match s.next_frame() {
                Ok(frame) => Some(frame),
                Err(e) => {
                    // The fallback (or the source, once back) serves it.
                    pulled.store(true, Ordering::SeqCst);
                    source = None;
                    fail(e, &mut retry, &mut next_attempt);
                    None
                }
            },
            (None, Fallback::Pattern) if !wanted => {
                let wait = next_attempt
                    .saturating_duration_since(Instant::now())
                    .min(super::IDLE_NAP);
                std::thread::sleep(wait);
                None
            }
            (None, Fallback::Pattern) => {
                // The pattern costs tens of milliseconds a frame at 640×480;
                // a stand-in need not move at the camera's full rate.
                let fps = camera.fps.min(FALLBACK_FPS);
                let pattern = fallback
                    .get_or_insert_with(|| PatternSource::new(camera.width, camera.height, fps));
                debug_assert_eq!(pattern.uri(), pattern::URI);
                pattern.next_frame().ok()
            }
            (None, Fallback::Still) => {
                if wanted {
                    pulled.store(true, Ordering::SeqCst);
                }
                frames.send_replace(None);
                let wait = next_attempt
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(100));
                std::thread::sleep(wait);
                None
            }
        };
        if let Some(frame) = frame {
            frames.send_replace(Some(frame));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_engine::picture::RgbImage;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn retry_delays_grow_and_reset() {
        let mut r = Retry::new();
        let t = Instant::now();
        let delays: Vec<u128> = (0..7)
            .map(|_| (r.handle_failure(t) - t).as_millis())
            .collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        r.handle_success();
        assert_eq!((r.handle_failure(t) - t).as_millis(), 500);
    }

    /// A camera that gives `frames` frames, then fails as if unplugged.
    struct FlakyCamera {
        left: u32,
        index: u64,
    }

    impl FrameSource for FlakyCamera {
        fn next_frame(&mut self) -> Result<Frame, SourceError> {
            std::thread::sleep(Duration::from_millis(2));
            if self.left == 0 {
                return Err(SourceError::CameraLost {
                    device: "/dev/video9".into(),
                    reason: "unplugged".into(),
                });
            }
            self.left -= 1;
            self.index += 1;
            Ok(Frame {
                image: Arc::new(RgbImage::new(2, 2, vec![7; 12])),
                index: self.index,
                captured: Instant::now(),
                origin: "v4l:///dev/video9".into(),
            })
        }
        fn uri(&self) -> &str {
            "v4l:///dev/video9"
        }
    }

    fn fast() -> CameraConfig {
        CameraConfig {
            width: 16,
            height: 16,
            fps: 200.0,
            ..CameraConfig::default()
        }
    }

    /// Waits until `pred` holds for the health, or fails the test.
    fn wait_health(feed: &Feed, pred: impl Fn(&SourceHealth) -> bool) {
        wait_health_pulling(feed, false, pred)
    }

    /// The same, pulling frames meanwhile (as live mode would) if `pull`.
    fn wait_health_pulling(feed: &Feed, pull: bool, pred: impl Fn(&SourceHealth) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pred(&feed.health.borrow()) {
            if pull {
                feed.pull();
            }
            assert!(
                Instant::now() < deadline,
                "health stuck at {:?}",
                *feed.health.borrow()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Pulls frames until one comes from `origin`.
    fn wait_origin(feed: &Feed, origin: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            feed.pull();
            if let Some(f) = feed.frames.borrow().as_ref()
                && &*f.origin == origin
            {
                return;
            }
            assert!(Instant::now() < deadline, "no frame from {origin}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn unplug_falls_back_to_the_pattern_and_replug_resumes() {
        // The camera is there, fails after 3 frames, is missing for two
        // attempts, then comes back.
        let attempts = Arc::new(AtomicU32::new(0));
        let counter = attempts.clone();
        let feed = Feed::start_with("v4l:///dev/video9", fast(), move || {
            match counter.fetch_add(1, Ordering::SeqCst) {
                1 | 2 => Err(SourceError::NoCamera {
                    device: "/dev/video9".into(),
                    reason: "no such device".into(),
                }),
                _ => Ok(Box::new(FlakyCamera { left: 3, index: 0 }) as Box<dyn FrameSource>),
            }
        });
        wait_origin(&feed, "v4l:///dev/video9");
        wait_health_pulling(&feed, true, |h| matches!(h, SourceHealth::Failing { .. }));
        assert!(
            feed.health
                .borrow()
                .warning()
                .unwrap()
                .contains("test pattern")
        );
        wait_origin(&feed, "test://pattern");
        // Attempts 2 and 3 fail (0.5 s + 1 s), attempt 4 brings the camera back.
        wait_origin(&feed, "v4l:///dev/video9");
        assert!(attempts.load(Ordering::SeqCst) >= 4);
        feed.stop();
    }

    /// Regression: this test used to look for frames without asking for
    /// any, so it passed whatever the fallback did. It now pulls, and the
    /// same missing camera with the pattern fallback shows that pulling
    /// would have produced frames.
    #[test]
    fn still_fallback_shows_no_frames() {
        let config = CameraConfig {
            fallback: Fallback::Still,
            ..fast()
        };
        let feed = Feed::start("v4l:///dev/video-easel-missing", config);
        wait_health(&feed, |h| matches!(h, SourceHealth::Failing { .. }));
        for _ in 0..20 {
            feed.pull();
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            feed.frames.borrow().is_none(),
            "still: no frames, even pulled"
        );
        let pattern = Feed::start("v4l:///dev/video-easel-missing", fast());
        wait_origin(&pattern, "test://pattern");
        pattern.stop();
        let warning = feed.health.borrow().warning().unwrap();
        assert!(
            warning.contains("no camera at /dev/video-easel-missing")
                && warning.contains("still images"),
            "{warning}"
        );
    }

    /// Pulls one frame and waits for it (a consumer's side).
    fn pull_one(feed: &Feed) -> Frame {
        let mut rx = feed.frames.clone();
        rx.mark_unchanged();
        feed.pull();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), rx.changed())
                .await
                .expect("a frame soon after the pull")
                .unwrap();
        });
        rx.borrow_and_update().clone().unwrap()
    }

    #[test]
    fn frames_only_when_pulled_and_always_fresh() {
        let feed = Feed::start("test://pattern", fast());
        std::thread::sleep(Duration::from_millis(200));
        assert!(matches!(*feed.health.borrow(), SourceHealth::Ok { .. }));
        assert!(feed.frames.borrow().is_none(), "nobody asked for frames");
        let asked = Instant::now();
        let first = pull_one(&feed);
        assert!(first.captured >= asked, "made after the pull");
        // Nothing more without a pull.
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(feed.frames.borrow().as_ref().unwrap().index, first.index);
        // A slow consumer gets the frame of now, not the next in a backlog:
        // the pattern's index follows the clock (200 frames/s).
        let second = pull_one(&feed);
        assert!(
            second.index >= first.index + 20,
            "{} then {}",
            first.index,
            second.index
        );
        assert!(second.captured > first.captured + Duration::from_millis(140));
        assert_eq!(&*second.origin, "test://pattern");
    }

    /// A camera that reports its loss while idling too.
    struct IdleLoss;

    impl FrameSource for IdleLoss {
        fn next_frame(&mut self) -> Result<Frame, SourceError> {
            unreachable!("nobody pulls frames in this test")
        }
        fn uri(&self) -> &str {
            "v4l:///dev/video8"
        }
        fn idle(&mut self) -> Result<(), SourceError> {
            std::thread::sleep(Duration::from_millis(5));
            Err(SourceError::CameraLost {
                device: "/dev/video8".into(),
                reason: "unplugged".into(),
            })
        }
    }

    #[test]
    fn an_idle_camera_is_still_watched() {
        let feed = Feed::start_with("v4l:///dev/video8", fast(), || {
            Ok(Box::new(IdleLoss) as Box<dyn FrameSource>)
        });
        wait_health(&feed, |h| matches!(h, SourceHealth::Failing { .. }));
        let status = feed.health.borrow().status();
        assert!(!status.ok);
        assert_eq!(status.showing.as_deref(), Some("test://pattern"));
        assert!(
            status
                .warning
                .unwrap()
                .contains("camera /dev/video8 lost: unplugged"),
            "{:?}",
            feed.health.borrow()
        );
    }
}
