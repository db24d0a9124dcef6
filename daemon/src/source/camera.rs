//! `v4l:///dev/videoN`: a V4L2 camera through the `v4l` crate. The only
//! code here that needs a real device; everything it decides is elsewhere
//! (`negotiate` picks the mode, `yuyv`/`mjpeg` decode), so this file is
//! just the ioctls: list modes, set one, stream memory-mapped buffers.
//!
//! A read that fails or times out is [`SourceError::CameraLost`]: the feed
//! drops this camera and reopens the device when it is back.

use super::negotiate::{self, Mode, PixelFormat};
use super::{CameraConfig, Frame, FrameSource, SourceError, mjpeg, yuyv};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use v4l::buffer::Type;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::video::capture::Parameters;
use v4l::{Device, FourCC, Fraction};

/// Longer than any sane frame interval; a camera silent for this long is lost.
const READ_TIMEOUT: Duration = Duration::from_secs(3);
const BUFFERS: u32 = 4;

pub struct Camera {
    uri: String,
    origin: Arc<str>,
    device: PathBuf,
    format: PixelFormat,
    width: u32,
    height: u32,
    stride: usize,
    index: u64,
    // Declared before `_device` so the stream is unmapped before the fd closes.
    stream: Stream<'static>,
    _device: Device,
}

impl Camera {
    pub fn open(uri: &str, path: &Path, config: &CameraConfig) -> Result<Camera, SourceError> {
        let no_camera = |reason: String| SourceError::NoCamera {
            device: path.into(),
            reason,
        };
        let device = Device::with_path(path).map_err(|e| no_camera(e.to_string()))?;
        let caps = device
            .query_caps()
            .map_err(|e| no_camera(format!("not a V4L2 device ({e})")))?;
        let modes = list_modes(&device);
        let choice = negotiate::choose(
            &modes,
            config.width,
            config.height,
            config.fps,
            config.format,
        )
        .map_err(|e| SourceError::NoUsableMode {
            device: path.into(),
            reason: format!("{e} ({} {})", caps.card, caps.driver),
        })?;
        let wanted = v4l::Format::new(
            choice.width,
            choice.height,
            FourCC::new(&choice.format.fourcc()),
        );
        let set = device
            .set_format(&wanted)
            .map_err(|e| no_camera(format!("setting {}: {e}", choice.format)))?;
        let format =
            PixelFormat::from_fourcc(set.fourcc.repr).ok_or_else(|| SourceError::NoUsableMode {
                device: path.into(),
                reason: format!("asked for {}, the driver set {}", choice.format, set.fourcc),
            })?;
        // Rates are a wish: some drivers refuse to set them and keep their own.
        let interval = Fraction::new(1000, (choice.fps * 1000.0).round().max(1.0) as u32);
        if let Err(e) = device.set_params(&Parameters::new(interval)) {
            tracing::debug!(device = %path.display(), error = %e, "camera keeps its own frame rate");
        }
        let mut stream = Stream::with_buffers(&device, Type::VideoCapture, BUFFERS)
            .map_err(|e| no_camera(format!("starting the stream: {e}")))?;
        stream.set_timeout(READ_TIMEOUT);
        tracing::info!(
            device = %path.display(), card = %caps.card, format = %format,
            width = set.width, height = set.height, fps = choice.fps, "camera open"
        );
        Ok(Camera {
            uri: uri.into(),
            origin: uri.into(),
            device: path.into(),
            format,
            width: set.width,
            height: set.height,
            stride: (set.stride as usize).max(2 * set.width as usize),
            index: 0,
            stream,
            _device: device,
        })
    }
}

/// Every (format, size, rates) the device offers in a format we decode.
/// Stepwise sizes count as their largest size and the configured one.
fn list_modes(device: &Device) -> Vec<Mode> {
    let mut modes = Vec::new();
    for description in device.enum_formats().unwrap_or_default() {
        let Some(format) = PixelFormat::from_fourcc(description.fourcc.repr) else {
            continue;
        };
        for size in device
            .enum_framesizes(description.fourcc)
            .unwrap_or_default()
        {
            let sizes: Vec<(u32, u32)> = match size.size {
                FrameSizeEnum::Discrete(d) => vec![(d.width, d.height)],
                FrameSizeEnum::Stepwise(s) => {
                    vec![(s.max_width, s.max_height), (s.min_width, s.min_height)]
                }
            };
            for (width, height) in sizes {
                let rates = device
                    .enum_frameintervals(description.fourcc, width, height)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| match i.interval {
                        FrameIntervalEnum::Discrete(f) => f,
                        // The shortest interval: the highest rate.
                        FrameIntervalEnum::Stepwise(s) => s.min,
                    })
                    .filter(|f| f.numerator > 0)
                    .map(|f| f.denominator as f32 / f.numerator as f32)
                    .collect();
                modes.push(Mode {
                    format,
                    width,
                    height,
                    rates,
                });
            }
        }
    }
    modes
}

impl FrameSource for Camera {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        let lost = |reason: String| SourceError::CameraLost {
            device: self.device.clone(),
            reason,
        };
        let (buf, meta) = self.stream.next().map_err(|e| lost(e.to_string()))?;
        let captured = Instant::now();
        let used = (meta.bytesused as usize).min(buf.len());
        let data = if used == 0 { buf } else { &buf[..used] };
        let image = match self.format {
            PixelFormat::Yuyv => yuyv::to_rgb(data, self.width, self.height, self.stride)?,
            PixelFormat::Mjpeg => mjpeg::decode(data)?,
        };
        self.index += 1;
        Ok(Frame {
            image: Arc::new(image),
            index: self.index - 1,
            captured,
            origin: self.origin.clone(),
        })
    }

    fn uri(&self) -> &str {
        &self.uri
    }

    fn idle(&mut self) -> Result<(), SourceError> {
        // Dequeue and requeue without decoding: the driver keeps filling
        // fresh buffers, so the first frame wanted later is current.
        self.stream
            .next()
            .map(|_| ())
            .map_err(|e| SourceError::CameraLost {
                device: self.device.clone(),
                reason: e.to_string(),
            })
    }
}
