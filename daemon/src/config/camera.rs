//! `[camera]`: how frame sources are opened (the top-level `source` URI
//! says which one). Validated values only; opening is `crate::source`'s.

use crate::source::{CameraConfig, Fallback, PixelFormat};
use serde::Deserialize;

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

/// The second stage of `[camera]`: validated settings for the source
/// layer; on failure every (key, problem) pair.
pub fn settings(raw: &RawCamera) -> Result<CameraConfig, Vec<(&'static str, String)>> {
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
        let keys: Vec<_> = settings(&raw)
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
        let c = settings(&ok).unwrap();
        assert_eq!(
            (c.format, c.fallback, c.width, c.height),
            (Some(PixelFormat::Yuyv), Fallback::Still, 640, 480)
        );
    }
}
