//! `[camera]`: how frame sources are opened (the top-level `source` URI
//! says which one). Validated values only; opening is `crate::source`'s.

use serde::Deserialize;
use std::fmt;

/// `[camera]` as serde reads it (unknown keys rejected).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCamera {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f32>,
    pub format: Option<String>,
    pub fallback: Option<String>,
    pub slideshow_seconds: Option<f32>,
}

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

impl CameraConfig {
    /// Validates `[camera]`; on failure every (key, problem) pair.
    pub fn from_raw(raw: &RawCamera) -> Result<CameraConfig, Vec<(&'static str, String)>> {
        let d = CameraConfig::default();
        let mut problems = Vec::new();
        let mut dimension = |key: &'static str, v: Option<u32>, default: u32| match v {
            Some(v) if (16..=8192).contains(&v) && v % 2 == 0 => v,
            Some(v) => {
                problems.push((
                    key,
                    format!("{v} is not an even number of pixels in 16..8192"),
                ));
                default
            }
            None => default,
        };
        let width = dimension("width", raw.width, d.width);
        let height = dimension("height", raw.height, d.height);
        let mut positive = |key: &'static str, v: Option<f32>, default: f32, max: f32| match v {
            Some(v) if v > 0.0 && v <= max => v,
            Some(v) => {
                problems.push((key, format!("{v} is not in (0, {max}]")));
                default
            }
            None => default,
        };
        let fps = positive("fps", raw.fps, d.fps, 240.0);
        let slideshow_seconds = positive(
            "slideshow_seconds",
            raw.slideshow_seconds,
            d.slideshow_seconds,
            86400.0,
        );
        let format = match raw.format.as_deref() {
            None | Some("auto") => None,
            Some("mjpeg") => Some(PixelFormat::Mjpeg),
            Some("yuyv") => Some(PixelFormat::Yuyv),
            Some(other) => {
                problems.push((
                    "format",
                    format!("{other:?}: expected \"auto\", \"mjpeg\" or \"yuyv\""),
                ));
                None
            }
        };
        let fallback = match raw.fallback.as_deref() {
            None | Some("pattern") => Fallback::Pattern,
            Some("still") => Fallback::Still,
            Some(other) => {
                problems.push((
                    "fallback",
                    format!("{other:?}: expected \"pattern\" or \"still\""),
                ));
                Fallback::Pattern
            }
        };
        if problems.is_empty() {
            Ok(CameraConfig {
                width,
                height,
                fps,
                format,
                fallback,
                slideshow_seconds,
            })
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_config_checks_every_key() {
        let raw = RawCamera {
            width: Some(641),
            height: Some(8),
            fps: Some(0.0),
            format: Some("h264".into()),
            fallback: Some("black".into()),
            slideshow_seconds: Some(-1.0),
        };
        let keys: Vec<_> = CameraConfig::from_raw(&raw)
            .unwrap_err()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            [
                "width",
                "height",
                "fps",
                "slideshow_seconds",
                "format",
                "fallback"
            ]
        );
        let ok = RawCamera {
            format: Some("yuyv".into()),
            fallback: Some("still".into()),
            ..Default::default()
        };
        let c = CameraConfig::from_raw(&ok).unwrap();
        assert_eq!(
            (c.format, c.fallback, c.width, c.height),
            (Some(PixelFormat::Yuyv), Fallback::Still, 640, 480)
        );
    }
}
