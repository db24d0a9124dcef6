//! Fitting a frame to a size: the largest centred region with the target's
//! aspect, resized bilinearly — the same geometry as the engine's input
//! conversion (`engine::pixels::rgb_to_nchw`), so a frame fitted here and
//! then given to a model reaches it within half a level of the engine
//! doing the crop itself.
//!
//! Live mode fits frames on a blocking thread before they go to the
//! inference worker, so the worker spends its time on inference, not on
//! resizing camera frames. Pure.

use crate::picture::RgbImage;

/// `image` centre-cropped to the aspect of `w`×`h` and resized to it.
/// A picture of exactly that size is returned unchanged (a copy).
pub fn centre_crop_resize(image: &RgbImage, w: u32, h: u32) -> RgbImage {
    if (image.width, image.height) == (w, h) || w == 0 || h == 0 {
        return image.clone();
    }
    let (sw, sh) = (image.width as f32, image.height as f32);
    let target_aspect = w as f32 / h as f32;
    let (cw, ch) = if sw / sh > target_aspect {
        (sh * target_aspect, sh)
    } else {
        (sw, sw / target_aspect)
    };
    let (x0, y0) = ((sw - cw) / 2.0, (sh - ch) / 2.0);
    let (w, h) = (w as usize, h as usize);
    let stride = image.width as usize * 3;
    // Horizontal taps once per column, not once per pixel.
    let columns: Vec<(usize, usize, f32)> = (0..w)
        .map(|tx| {
            let sx = (x0 + (tx as f32 + 0.5) * cw / w as f32 - 0.5).clamp(0.0, sw - 1.0);
            let lo = sx.floor() as usize;
            (
                lo * 3,
                (lo + 1).min(image.width as usize - 1) * 3,
                sx.fract(),
            )
        })
        .collect();
    let mut rgb = vec![0u8; 3 * w * h];
    for (ty, row) in rgb.chunks_exact_mut(3 * w).enumerate() {
        let sy = (y0 + (ty as f32 + 0.5) * ch / h as f32 - 0.5).clamp(0.0, sh - 1.0);
        let y_lo = sy.floor() as usize;
        let y_hi = (y_lo + 1).min(image.height as usize - 1);
        let fy = sy.fract();
        let top = &image.rgb[y_lo * stride..(y_lo + 1) * stride];
        let bottom = &image.rgb[y_hi * stride..(y_hi + 1) * stride];
        for (px, &(x_lo, x_hi, fx)) in row.chunks_exact_mut(3).zip(&columns) {
            for c in 0..3 {
                let t = top[x_lo + c] as f32 * (1.0 - fx) + top[x_hi + c] as f32 * fx;
                let b = bottom[x_lo + c] as f32 * (1.0 - fx) + bottom[x_hi + c] as f32 * fx;
                px[c] = (t * (1.0 - fy) + b * fy).round() as u8;
            }
        }
    }
    RgbImage::new(w as u32, h as u32, rgb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::pixels::rgb_to_nchw;

    #[test]
    fn agrees_with_the_engine_within_half_a_level() {
        let frame = crate::source::pattern::render(64, 48, 2.0);
        for (w, h) in [(32, 32), (20, 30), (64, 48), (100, 40)] {
            let fitted = centre_crop_resize(&frame, w, h);
            assert_eq!((fitted.width, fitted.height), (w, h));
            let engine = rgb_to_nchw(&frame, w as usize, h as usize, [0.0, 255.0]);
            let ours = rgb_to_nchw(&fitted, w as usize, h as usize, [0.0, 255.0]);
            let worst = engine
                .iter()
                .zip(&ours)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 0.5 + 1e-3, "{w}x{h}: off by {worst}");
        }
    }

    #[test]
    fn crops_the_centre() {
        // 4x2: black outer columns, white centre 2x2.
        let mut rgb = vec![0u8; 4 * 2 * 3];
        for y in 0..2 {
            for x in 1..3 {
                rgb[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3].fill(255);
            }
        }
        let out = centre_crop_resize(&RgbImage::new(4, 2, rgb), 2, 2);
        assert!(out.rgb.iter().all(|&v| v == 255), "{:?}", out.rgb);
    }
}
