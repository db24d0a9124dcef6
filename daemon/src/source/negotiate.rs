//! Choosing a camera mode from what the device offers: pure, so the choice
//! is tested without a camera. The device layer (`camera`) lists the modes
//! and applies the choice.
//!
//! The rule: of the modes in a format we decode (MJPEG, YUYV), take the
//! size closest to the one asked for (exact first; else the smallest that
//! covers it, so the model's centre-crop has pixels to spare; else the
//! largest), then a rate that reaches the one asked for. With `format =
//! "auto"`, YUYV wins when it reaches the rate at that size (no decode
//! cost, no compression artefacts); MJPEG otherwise (USB 2 cameras often
//! send big YUYV frames at a few frames per second only).

pub use super::settings::PixelFormat;

impl PixelFormat {
    /// The V4L2 four-character code.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Mjpeg => *b"MJPG",
            PixelFormat::Yuyv => *b"YUYV",
        }
    }

    pub fn from_fourcc(code: [u8; 4]) -> Option<PixelFormat> {
        match &code {
            b"MJPG" | b"JPEG" => Some(PixelFormat::Mjpeg),
            b"YUYV" | b"YUY2" => Some(PixelFormat::Yuyv),
            _ => None,
        }
    }
}

/// One size a device offers in one format, with its frame rates.
#[derive(Debug, Clone, PartialEq)]
pub struct Mode {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Frame rates offered at this size (frames per second).
    pub rates: Vec<f32>,
}

/// What to ask the device for.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub fps: f32,
}

/// Why no mode fits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    #[error("the camera offers neither MJPEG nor YUYV")]
    NoDecodableFormat,
    #[error("the camera does not offer {0} (format = \"auto\" would pick another)")]
    FormatNotOffered(PixelFormat),
}

/// Picks the mode for `want` (size and rate) among `modes`, in `format` if given.
pub fn choose(
    modes: &[Mode],
    width: u32,
    height: u32,
    fps: f32,
    format: Option<PixelFormat>,
) -> Result<Choice, NegotiationError> {
    if modes.is_empty() {
        return Err(NegotiationError::NoDecodableFormat);
    }
    let pick = |f: PixelFormat| -> Option<Choice> {
        let of_format: Vec<&Mode> = modes.iter().filter(|m| m.format == f).collect();
        let mode = of_format
            .iter()
            .min_by_key(|m| size_rank(m, width, height))?;
        Some(Choice {
            format: f,
            width: mode.width,
            height: mode.height,
            fps: pick_rate(&mode.rates, fps),
        })
    };
    match format {
        Some(f) => pick(f).ok_or(NegotiationError::FormatNotOffered(f)),
        None => match (pick(PixelFormat::Yuyv), pick(PixelFormat::Mjpeg)) {
            (Some(y), Some(m)) => {
                let y_fits = (y.width, y.height) == (m.width, m.height) && y.fps >= fps.min(m.fps);
                Ok(if y_fits { y } else { m })
            }
            (Some(y), None) => Ok(y),
            (None, Some(m)) => Ok(m),
            (None, None) => Err(NegotiationError::NoDecodableFormat),
        },
    }
}

/// Orders sizes: exact, then covering sizes by area (smallest first), then
/// smaller sizes by area (largest first).
fn size_rank(m: &Mode, width: u32, height: u32) -> (u8, i64) {
    let area = m.width as i64 * m.height as i64;
    if (m.width, m.height) == (width, height) {
        (0, 0)
    } else if m.width >= width && m.height >= height {
        (1, area)
    } else {
        (2, -area)
    }
}

/// The lowest offered rate that reaches `fps`, else the highest one; `fps`
/// itself when the device lists none (it will keep its own).
fn pick_rate(rates: &[f32], fps: f32) -> f32 {
    let reaching = rates
        .iter()
        .copied()
        .filter(|&r| r >= fps - 0.01)
        .min_by(f32::total_cmp);
    reaching
        .or_else(|| rates.iter().copied().max_by(f32::total_cmp))
        .unwrap_or(fps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use PixelFormat::*;

    fn mode(format: PixelFormat, width: u32, height: u32, rates: &[f32]) -> Mode {
        Mode {
            format,
            width,
            height,
            rates: rates.to_vec(),
        }
    }

    /// A typical USB 2 webcam: YUYV is slow at the big sizes.
    fn webcam() -> Vec<Mode> {
        vec![
            mode(Yuyv, 640, 480, &[30.0, 15.0]),
            mode(Yuyv, 1280, 720, &[10.0, 5.0]),
            mode(Mjpeg, 640, 480, &[30.0]),
            mode(Mjpeg, 1280, 720, &[30.0, 15.0]),
            mode(Mjpeg, 1920, 1080, &[30.0]),
        ]
    }

    fn choice(format: PixelFormat, width: u32, height: u32, fps: f32) -> Choice {
        Choice {
            format,
            width,
            height,
            fps,
        }
    }

    #[test]
    fn choices_for_a_usb2_webcam() {
        let cases = [
            // (width, height, fps, format) -> choice
            ((640, 480, 30.0, None), choice(Yuyv, 640, 480, 30.0)),
            ((1280, 720, 30.0, None), choice(Mjpeg, 1280, 720, 30.0)),
            ((1280, 720, 5.0, None), choice(Yuyv, 1280, 720, 5.0)),
            ((1280, 720, 30.0, Some(Yuyv)), choice(Yuyv, 1280, 720, 10.0)),
            ((640, 480, 30.0, Some(Mjpeg)), choice(Mjpeg, 640, 480, 30.0)),
            // No exact size: the smallest that covers it.
            ((800, 600, 30.0, None), choice(Mjpeg, 1280, 720, 30.0)),
            // Larger than anything: the largest.
            ((3840, 2160, 30.0, None), choice(Mjpeg, 1920, 1080, 30.0)),
            (
                (3840, 2160, 30.0, Some(Yuyv)),
                choice(Yuyv, 1280, 720, 10.0),
            ),
            // A low rate asked: the lowest rate that reaches it.
            ((640, 480, 12.0, Some(Yuyv)), choice(Yuyv, 640, 480, 15.0)),
        ];
        for ((w, h, fps, format), want) in cases {
            assert_eq!(
                choose(&webcam(), w, h, fps, format).unwrap(),
                want,
                "{w}x{h}@{fps} {format:?}"
            );
        }
    }

    #[test]
    fn missing_formats_are_errors() {
        let mjpeg_only = vec![mode(Mjpeg, 640, 480, &[30.0])];
        assert_eq!(
            choose(&mjpeg_only, 640, 480, 30.0, Some(Yuyv)),
            Err(NegotiationError::FormatNotOffered(Yuyv))
        );
        assert_eq!(
            choose(&mjpeg_only, 640, 480, 30.0, None).unwrap().format,
            Mjpeg
        );
        assert_eq!(
            choose(&[], 640, 480, 30.0, None),
            Err(NegotiationError::NoDecodableFormat)
        );
    }

    #[test]
    fn no_listed_rates_keeps_the_wish() {
        let m = vec![mode(Yuyv, 320, 240, &[])];
        assert_eq!(
            choose(&m, 640, 480, 24.0, None).unwrap(),
            choice(Yuyv, 320, 240, 24.0)
        );
    }

    #[test]
    fn fourccs_round_trip() {
        for f in [Mjpeg, Yuyv] {
            assert_eq!(PixelFormat::from_fourcc(f.fourcc()), Some(f));
        }
        assert_eq!(PixelFormat::from_fourcc(*b"H264"), None);
    }
}
