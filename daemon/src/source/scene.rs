//! Still-scene detection for live mode: paint a frame only when the scene
//! moved since the last painted one. Pure.
//!
//! Each frame is reduced to a small luma thumbnail (box average); a frame
//! counts as changed when the mean absolute difference from the reference
//! thumbnail exceeds `threshold` levels. The reference is the last frame
//! that counted as changed, so a slow drift adds up and is painted in the
//! end instead of being skipped forever. Camera noise sits around one
//! level; a person moving, far above.

use easel_engine::picture::RgbImage;

const THUMB_W: usize = 32;
const THUMB_H: usize = 24;

/// Tells moving scenes from still ones.
#[derive(Debug, Clone)]
pub struct SceneChange {
    threshold: f32,
    reference: Option<Vec<f32>>,
}

impl SceneChange {
    /// `threshold`: mean luma difference, in levels (0..255), that counts as
    /// movement. 2.0 ignores sensor noise and catches a hand.
    pub fn new(threshold: f32) -> SceneChange {
        SceneChange {
            threshold,
            reference: None,
        }
    }

    /// Whether `image` should be painted: the first frame always is.
    pub fn handle_frame(&mut self, image: &RgbImage) -> bool {
        let thumb = thumbnail(image);
        let changed = match &self.reference {
            None => true,
            Some(reference) => mean_abs_diff(reference, &thumb) > self.threshold,
        };
        if changed {
            self.reference = Some(thumb);
        }
        changed
    }

    /// Forgets the reference: the next frame is painted (after a model switch).
    pub fn reset(&mut self) {
        self.reference = None;
    }
}

fn mean_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len().max(1) as f32
}

/// A `THUMB_W`×`THUMB_H` luma (BT.601 weights) box-averaged thumbnail.
fn thumbnail(image: &RgbImage) -> Vec<f32> {
    let (w, h) = (image.width as usize, image.height as usize);
    let mut sums = vec![0f32; THUMB_W * THUMB_H];
    let mut counts = vec![0u32; THUMB_W * THUMB_H];
    for y in 0..h {
        let ty = y * THUMB_H / h.max(1);
        for x in 0..w {
            let tx = x * THUMB_W / w.max(1);
            let p = &image.rgb[(y * w + x) * 3..(y * w + x) * 3 + 3];
            sums[ty * THUMB_W + tx] +=
                0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
            counts[ty * THUMB_W + tx] += 1;
        }
    }
    sums.iter()
        .zip(&counts)
        .map(|(s, &n)| if n == 0 { 0.0 } else { s / n as f32 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(level: u8) -> RgbImage {
        RgbImage::new(64, 48, vec![level; 64 * 48 * 3])
    }

    /// A flat picture with per-pixel noise of ±`amp` levels (deterministic).
    fn noisy(level: u8, amp: i32, salt: usize) -> RgbImage {
        let rgb = (0..64 * 48 * 3)
            .map(|i| {
                let n = ((i * 7919 + salt * 104_729) % (2 * amp as usize + 1)) as i32 - amp;
                (level as i32 + n).clamp(0, 255) as u8
            })
            .collect();
        RgbImage::new(64, 48, rgb)
    }

    #[test]
    fn first_frame_is_painted_then_stillness_is_skipped() {
        let mut s = SceneChange::new(2.0);
        assert!(s.handle_frame(&noisy(100, 3, 0)));
        assert!(
            !s.handle_frame(&noisy(100, 3, 1)),
            "sensor noise is not movement"
        );
        assert!(!s.handle_frame(&noisy(100, 3, 2)));
    }

    #[test]
    fn movement_is_painted() {
        let mut s = SceneChange::new(2.0);
        assert!(s.handle_frame(&flat(100)));
        let mut moved = flat(100);
        // A bright object over a quarter of the picture.
        for y in 0..24 {
            for x in 0..32 {
                moved.rgb[(y * 64 + x) * 3..(y * 64 + x) * 3 + 3].fill(250);
            }
        }
        assert!(s.handle_frame(&moved));
        assert!(!s.handle_frame(&moved));
    }

    #[test]
    fn slow_drift_adds_up() {
        let mut s = SceneChange::new(2.0);
        assert!(s.handle_frame(&flat(100)));
        let painted: Vec<bool> = (1..=6).map(|i| s.handle_frame(&flat(100 + i))).collect();
        assert_eq!(painted, [false, false, true, false, false, true]);
        s.reset();
        assert!(s.handle_frame(&flat(106)));
    }
}
