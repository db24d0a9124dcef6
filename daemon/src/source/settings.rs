//! What the source layer is asked for: the camera's size, rate and pixel
//! format, and what to show without a camera. Built by the config's second
//! stage (`config::camera`); opening a source is `source::open`'s.

use std::fmt;

/// The camera pixel formats easel decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    Mjpeg,
    Yuyv,
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PixelFormat::Mjpeg => "MJPEG",
            PixelFormat::Yuyv => "YUYV",
        })
    }
}

/// What a camera should deliver, and what to do without one (`[camera]`).
#[derive(Debug, Clone, PartialEq)]
pub struct CameraConfig {
    pub width: u32,
    pub height: u32,
    /// Frames per second asked of the camera; also the rate of the test
    /// pattern and of still pictures.
    pub fps: f32,
    /// `None`: whichever of MJPEG and YUYV reaches the size and rate.
    pub format: Option<PixelFormat>,
    pub fallback: Fallback,
    /// How long each picture of a `file://` folder stays.
    pub slideshow_seconds: f32,
}

/// What the feed shows while the configured source fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The test pattern, so the piece keeps moving.
    Pattern,
    /// No frames: the piece should show still images instead.
    Still,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            width: 640,
            height: 480,
            fps: 30.0,
            format: None,
            fallback: Fallback::Pattern,
            slideshow_seconds: 10.0,
        }
    }
}
