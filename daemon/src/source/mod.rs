//! Frame sources: where the pictures for `image` models come from.
//!
//! One interface, [`FrameSource`], chosen by the `source` URI of the config:
//!
//! - `test://pattern`: a synthetic moving pattern (`pattern`), for trying a
//!   piece without a camera; deterministic given the frame index.
//! - `file:///path`: a still picture, or a folder of them as a slideshow
//!   (`still`); PNG and JPEG.
//! - `v4l:///dev/videoN`: a V4L2 camera (`camera`, behind the `v4l` cargo
//!   feature), MJPEG or YUYV, at the `[camera]` resolution and rate.
//!
//! Pure parts beside them: `yuyv` and `mjpeg` decode camera buffers,
//! `negotiate` picks a camera mode from what the device offers, `scene`
//! tells a still scene from a moving one (the engine's `fit` crops and
//! resizes a frame to a model's input). `feed` runs a source on its own
//! thread, newest frame wins, and falls back to the test pattern while a
//! camera is missing, reopening it when it comes back.
//!
//! Nothing here knows about models, MQTT or the web: frames flow out, never
//! commands in.

pub mod feed;
pub mod mjpeg;
pub mod negotiate;
pub mod pattern;
pub mod scene;
pub mod settings;
pub mod still;
pub mod yuyv;

#[cfg(feature = "v4l")]
mod camera;

use easel_engine::picture::RgbImage;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub use feed::{Feed, SourceHealth, SourceStatus};
pub use settings::{CameraConfig, Fallback, PixelFormat};

/// One picture from a source.
#[derive(Debug, Clone)]
pub struct Frame {
    pub image: Arc<RgbImage>,
    /// Counts up from 0 for each opened source.
    pub index: u64,
    /// When the frame was taken (camera) or made (pattern, still): the start
    /// of capture-to-display latency.
    pub captured: Instant,
    /// The URI of the source that made it (the fallback's, during a fallback).
    pub origin: Arc<str>,
}

/// A source of frames. `next_frame` blocks until the next frame is due (a
/// camera's own rate, or `[camera] fps` for the synthetic sources).
pub trait FrameSource: Send {
    fn next_frame(&mut self) -> Result<Frame, SourceError>;
    /// The URI this source was opened from.
    fn uri(&self) -> &str;
    /// Called instead of `next_frame` while no frame is asked for (between
    /// live mode's paints, with no capture pending): costs next to nothing, returns within
    /// about a frame interval, and keeps the source ready. A camera reads
    /// and drops a buffer without decoding it, so its queue never holds
    /// stale pictures and an unplugged camera is still noticed; synthetic
    /// sources just wait.
    fn idle(&mut self) -> Result<(), SourceError> {
        std::thread::sleep(IDLE_NAP);
        Ok(())
    }
}

/// How long a synthetic source waits per `idle` call: short enough that a
/// capture or live mode gets its first frame quickly.
pub const IDLE_NAP: std::time::Duration = std::time::Duration::from_millis(5);

/// Why a source cannot give frames. The daemon turns every one of these
/// into a warning and a fallback; none is a reason to stop.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0:?} is not a frame source URI (v4l:///dev/videoN, file:///path or test://pattern)")]
    BadUri(String),
    #[error("no camera at {}: {reason}", device.display())]
    NoCamera { device: PathBuf, reason: String },
    #[error("camera {} lost: {reason}", device.display())]
    CameraLost { device: PathBuf, reason: String },
    #[error("camera {} offers no usable mode: {reason}", device.display())]
    NoUsableMode { device: PathBuf, reason: String },
    #[error("this easeld was built without camera support (cargo feature `v4l`)")]
    CameraUnsupported,
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("cannot decode frame: {0}")]
    Decode(#[from] DecodeError),
}

/// Why a buffer is not a picture.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("YUYV buffer of {got} bytes is too short for {width}x{height} (stride {stride})")]
    ShortYuyv {
        width: u32,
        height: u32,
        stride: usize,
        got: usize,
    },
    #[error("YUYV width {0} is odd")]
    OddWidth(u32),
    #[error("JPEG: {0}")]
    Jpeg(String),
    #[error("PNG: {0}")]
    Png(String),
    #[error("not a PNG or JPEG picture")]
    UnknownFormat,
}

/// A parsed `source` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceUri {
    Pattern,
    File(PathBuf),
    V4l(PathBuf),
}

impl SourceUri {
    pub fn parse(uri: &str) -> Result<SourceUri, SourceError> {
        let bad = || SourceError::BadUri(uri.to_string());
        if let Some(rest) = uri.strip_prefix("test://") {
            return if rest == "pattern" {
                Ok(SourceUri::Pattern)
            } else {
                Err(bad())
            };
        }
        let path = |rest: &str| {
            // `file:///abs` and `file://relative` (a folder beside the config).
            if rest.is_empty() {
                Err(bad())
            } else {
                Ok(PathBuf::from(rest))
            }
        };
        if let Some(rest) = uri.strip_prefix("file://") {
            return path(rest).map(SourceUri::File);
        }
        if let Some(rest) = uri.strip_prefix("v4l://") {
            return path(rest).map(SourceUri::V4l);
        }
        Err(bad())
    }
}

/// Opens the source a URI names. A missing camera or file is an error here,
/// never a panic; `feed` decides what to show instead.
pub fn open(uri: &str, camera: &CameraConfig) -> Result<Box<dyn FrameSource>, SourceError> {
    match SourceUri::parse(uri)? {
        SourceUri::Pattern => Ok(Box::new(pattern::PatternSource::new(
            camera.width,
            camera.height,
            camera.fps,
        ))),
        SourceUri::File(path) => Ok(Box::new(still::StillSource::open(uri, &path, camera)?)),
        SourceUri::V4l(device) => open_camera(uri, &device, camera),
    }
}

fn open_camera(
    uri: &str,
    device: &Path,
    camera: &CameraConfig,
) -> Result<Box<dyn FrameSource>, SourceError> {
    // Checked here, without the device layer, so the commonest failure
    // (unplugged, wrong number) reads the same in every build.
    if !device.exists() {
        return Err(SourceError::NoCamera {
            device: device.into(),
            reason: "no such device".into(),
        });
    }
    #[cfg(feature = "v4l")]
    {
        Ok(Box::new(camera::Camera::open(uri, device, camera)?))
    }
    #[cfg(not(feature = "v4l"))]
    {
        let _ = (uri, camera);
        Err(SourceError::CameraUnsupported)
    }
}

/// Decodes a PNG or JPEG file's bytes (by their signature, not the name).
pub fn decode_picture(bytes: &[u8]) -> Result<RgbImage, DecodeError> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        RgbImage::decode_png(bytes).map_err(|e| DecodeError::Png(e.to_string()))
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        mjpeg::decode(bytes)
    } else {
        Err(DecodeError::UnknownFormat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse() {
        assert_eq!(
            SourceUri::parse("test://pattern").unwrap(),
            SourceUri::Pattern
        );
        assert_eq!(
            SourceUri::parse("file:///srv/pics").unwrap(),
            SourceUri::File("/srv/pics".into())
        );
        assert_eq!(
            SourceUri::parse("file://pics").unwrap(),
            SourceUri::File("pics".into())
        );
        assert_eq!(
            SourceUri::parse("v4l:///dev/video2").unwrap(),
            SourceUri::V4l("/dev/video2".into())
        );
        for bad in [
            "test://noise",
            "rtsp://cam",
            "file://",
            "v4l://",
            "",
            "/dev/video0",
        ] {
            assert!(
                matches!(SourceUri::parse(bad), Err(SourceError::BadUri(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn missing_camera_is_a_clear_error() {
        let err = open("v4l:///dev/video-easel-missing", &CameraConfig::default())
            .err()
            .unwrap();
        assert!(matches!(err, SourceError::NoCamera { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "no camera at /dev/video-easel-missing: no such device"
        );
    }

    #[test]
    fn a_file_that_is_not_a_camera_is_refused() {
        // An existing path that is no V4L2 device: refused by the device
        // layer with a reason, or by a build without it; never a panic.
        let err = open("v4l:///dev/null", &CameraConfig::default())
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                SourceError::NoCamera { .. } | SourceError::CameraUnsupported
            ),
            "{err:?}"
        );
    }

    #[test]
    fn pictures_are_told_apart_by_signature() {
        assert_eq!(decode_picture(b"GIF89a"), Err(DecodeError::UnknownFormat));
        assert!(matches!(
            decode_picture(b"\xff\xd8\xff\xe0garbage"),
            Err(DecodeError::Jpeg(_))
        ));
    }
}
