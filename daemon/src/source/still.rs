//! `file:///path`: a still picture, or every picture of a folder in name
//! order as a slideshow, `[camera] slideshow_seconds` each. PNG and JPEG.
//!
//! Frames come at `[camera] fps` like a camera's (the same picture until the
//! slideshow moves on: live mode's scene detection skips the repeats).
//! Pictures are decoded when their turn comes; one that fails to decode is
//! skipped with a warning, and only a folder with no readable picture at
//! all is an error.

use super::pattern::Pace;
use super::{CameraConfig, Frame, FrameSource, SourceError, decode_picture};
use easel_engine::picture::RgbImage;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// File names the slideshow takes (case-insensitive extension).
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

pub struct StillSource {
    uri: String,
    origin: Arc<str>,
    files: Vec<PathBuf>,
    /// Frames each picture stays for.
    frames_per_slide: u64,
    pace: Pace,
    next: u64,
    /// The slide shown now and its picture.
    current: Option<(usize, Arc<RgbImage>)>,
}

/// Which slide is up at frame `index`. Pure.
pub fn slide_at(index: u64, frames_per_slide: u64, slides: usize) -> usize {
    ((index / frames_per_slide.max(1)) % slides.max(1) as u64) as usize
}

impl StillSource {
    pub fn open(uri: &str, path: &Path, camera: &CameraConfig) -> Result<StillSource, SourceError> {
        let err = |reason: String| SourceError::File {
            path: path.into(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        let files = if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| err(e.to_string()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
                })
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(err("no .png, .jpg or .jpeg pictures in this folder".into()));
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut source = StillSource {
            uri: uri.into(),
            origin: uri.into(),
            files,
            frames_per_slide: (camera.slideshow_seconds * camera.fps).round().max(1.0) as u64,
            pace: Pace::new(camera.fps),
            next: 0,
            current: None,
        };
        // Fail at open, not at the first frame, when nothing is readable.
        source.picture_for(0)?;
        Ok(source)
    }

    /// The picture for slide `slide`, or the next readable one after it.
    fn picture_for(&mut self, slide: usize) -> Result<Arc<RgbImage>, SourceError> {
        if let Some((shown, image)) = &self.current
            && *shown == slide
        {
            return Ok(image.clone());
        }
        let n = self.files.len();
        let mut last_error = None;
        for k in 0..n {
            let i = (slide + k) % n;
            let path = &self.files[i];
            let decoded = std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| decode_picture(&bytes).map_err(|e| e.to_string()));
            match decoded {
                Ok(image) => {
                    let image = Arc::new(image);
                    self.current = Some((slide, image.clone()));
                    return Ok(image);
                }
                Err(reason) => {
                    tracing::warn!(file = %path.display(), %reason, "skipping a picture the slideshow cannot read");
                    last_error = Some(SourceError::File {
                        path: path.clone(),
                        reason,
                    });
                }
            }
        }
        Err(last_error.expect("the file list is never empty"))
    }
}

impl FrameSource for StillSource {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        let index = self.pace.wait(self.next);
        self.next = index + 1;
        let slide = slide_at(index, self.frames_per_slide, self.files.len());
        let image = self.picture_for(slide)?;
        Ok(Frame {
            image,
            index,
            captured: Instant::now(),
            origin: self.origin.clone(),
        })
    }

    fn uri(&self) -> &str {
        &self.uri
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_engine::picture::{Provenance, encode_png};

    fn png(color: u8) -> Vec<u8> {
        let p = Provenance {
            model: "t".into(),
            model_sha256: "0".into(),
            seed: None,
            params: serde_json::json!({}),
        };
        encode_png(&RgbImage::new(4, 2, vec![color; 24]), &p)
    }

    fn fast() -> CameraConfig {
        CameraConfig {
            fps: 1000.0,
            slideshow_seconds: 0.002,
            ..CameraConfig::default()
        }
    }

    #[test]
    fn slides_advance_and_wrap() {
        let at: Vec<usize> = (0..7).map(|i| slide_at(i, 2, 3)).collect();
        assert_eq!(at, [0, 0, 1, 1, 2, 2, 0]);
    }

    #[test]
    fn a_still_picture_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("one.png");
        std::fs::write(&file, png(9)).unwrap();
        let mut s = StillSource::open("file://x", &file, &fast()).unwrap();
        let a = s.next_frame().unwrap();
        let b = s.next_frame().unwrap();
        assert_eq!(a.image.rgb, vec![9; 24]);
        assert!(Arc::ptr_eq(&a.image, &b.image), "decoded once, shared");
    }

    #[test]
    fn a_folder_is_a_slideshow_of_png_and_jpeg_skipping_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.png"), png(10)).unwrap();
        std::fs::write(dir.path().join("b.PNG"), b"not a png").unwrap();
        let jpeg = std::fs::read(format!(
            "{}/tests/fixtures/camera/frame444.jpg",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        std::fs::write(dir.path().join("c.jpg"), jpeg).unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
        let mut s = StillSource::open("file://x", dir.path(), &fast()).unwrap();
        assert_eq!(s.files.len(), 3);
        let mut sizes = Vec::new();
        for _ in 0..8 {
            let f = s.next_frame().unwrap();
            sizes.push((f.image.width, f.image.height));
        }
        assert!(
            sizes.contains(&(4, 2)) && sizes.contains(&(62, 46)),
            "{sizes:?}"
        );
    }

    #[test]
    fn missing_or_empty_paths_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = StillSource::open("file://x", &dir.path().join("nope.png"), &fast())
            .err()
            .unwrap();
        assert!(matches!(missing, SourceError::File { .. }), "{missing}");
        let empty = StillSource::open("file://x", dir.path(), &fast())
            .err()
            .unwrap();
        assert!(empty.to_string().contains("no .png"), "{empty}");
        std::fs::write(dir.path().join("bad.jpg"), b"\xff\xd8junk").unwrap();
        assert!(StillSource::open("file://x", dir.path(), &fast()).is_err());
    }
}
