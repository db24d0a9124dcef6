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
//! decoding a few), so the feed makes them only while someone holds a
//! [`Demand`] (live mode, a pending capture); otherwise the source idles
//! (`FrameSource::idle`), still opened and watched, so health is known
//! from the start and the first wanted frame comes within a frame interval.

use super::pattern::{self, PatternSource};
use super::{CameraConfig, Fallback, Frame, FrameSource, SourceError};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// The source as `state.source` and `/healthz` describe it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceStatus {
    /// The configured source (empty while starting).
    pub uri: String,
    /// False while the configured source fails.
    pub ok: bool,
    /// Where the frames come from now: the source, the fallback pattern,
    /// or `None` (no frames: still images).
    pub showing: Option<String>,
    pub warning: Option<String>,
}

/// Someone wants frames; the feed makes them while any `Demand` lives.
#[derive(Debug)]
pub struct Demand {
    count: Arc<AtomicUsize>,
}

impl Drop for Demand {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
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
    demand: Arc<AtomicUsize>,
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
        let demand = Arc::new(AtomicUsize::new(0));
        let wanted = demand.clone();
        let thread = std::thread::Builder::new()
            .name("easel-source".into())
            .spawn(move || {
                let wanted = move || wanted.load(Ordering::SeqCst) > 0;
                run(uri, camera, open, frames_tx, health_tx, wanted, token)
            })
            .expect("spawning the source thread");
        Feed {
            frames,
            health,
            demand,
            cancel,
            thread: Some(thread),
        }
    }

    /// Asks for frames until the returned guard is dropped.
    pub fn demand(&self) -> Demand {
        self.demand.fetch_add(1, Ordering::SeqCst);
        Demand {
            count: self.demand.clone(),
        }
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
    wanted: impl Fn() -> bool,
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
        let wanted = wanted();
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
    use crate::picture::RgbImage;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

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
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pred(&feed.health.borrow()) {
            assert!(
                Instant::now() < deadline,
                "health stuck at {:?}",
                *feed.health.borrow()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn wait_origin(feed: &Feed, origin: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
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
        let _wanted = feed.demand();
        wait_origin(&feed, "v4l:///dev/video9");
        wait_health(&feed, |h| matches!(h, SourceHealth::Failing { .. }));
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

    #[test]
    fn still_fallback_shows_no_frames() {
        let config = CameraConfig {
            fallback: Fallback::Still,
            ..fast()
        };
        let feed = Feed::start("v4l:///dev/video-easel-missing", config);
        wait_health(&feed, |h| matches!(h, SourceHealth::Failing { .. }));
        std::thread::sleep(Duration::from_millis(50));
        assert!(feed.frames.borrow().is_none());
        let warning = feed.health.borrow().warning().unwrap();
        assert!(
            warning.contains("no camera at /dev/video-easel-missing")
                && warning.contains("still images"),
            "{warning}"
        );
    }

    #[test]
    fn newest_frame_wins() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let feed = Feed::start("test://pattern", fast());
        let _wanted = feed.demand();
        let mut rx = feed.frames.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            for _ in 0..3 {
                rx.changed().await.unwrap();
                let index = rx.borrow_and_update().as_ref().map(|f| f.index);
                seen.lock().unwrap().push(index.unwrap());
                // A slow consumer: frames made meanwhile are replaced, not queued.
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        });
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.windows(2).all(|w| w[1] >= w[0] + 3),
            "indexes {seen:?} should skip frames"
        );
        assert_eq!(
            *feed.health.borrow(),
            SourceHealth::Ok {
                uri: "test://pattern".into()
            }
        );
    }

    #[test]
    fn frames_only_while_demanded() {
        let feed = Feed::start("test://pattern", fast());
        wait_health(&feed, |h| matches!(h, SourceHealth::Ok { .. }));
        std::thread::sleep(Duration::from_millis(100));
        assert!(feed.frames.borrow().is_none(), "nobody asked for frames");
        let wanted = feed.demand();
        let mut rx = feed.frames.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), rx.changed())
                .await
                .expect("a frame soon after asking")
                .unwrap();
        });
        drop(wanted);
        // The frame in flight may still land; then nothing more.
        std::thread::sleep(Duration::from_millis(60));
        let last = feed.frames.borrow().as_ref().map(|f| f.index);
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(feed.frames.borrow().as_ref().map(|f| f.index), last);
    }

    /// A camera that reports its loss while idling too.
    struct IdleLoss;

    impl FrameSource for IdleLoss {
        fn next_frame(&mut self) -> Result<Frame, SourceError> {
            unreachable!("nobody wants frames in this test")
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
