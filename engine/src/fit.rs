//! Fitting a frame to a size, as the model's manifest asks (`input.fit`):
//! `crop` takes the largest centred region with the target's aspect,
//! resized bilinearly — the same geometry as the engine's input conversion
//! (`engine::pixels::rgb_to_nchw`), so a frame fitted here and then given
//! to a model reaches it within half a level of the engine doing the crop
//! itself; `letterbox` resizes the whole frame to fit inside and centres
//! it on black bars.
//!
//! Live mode fits frames on a blocking thread before they go to the
//! inference worker, so the worker spends its time on inference, not on
//! resizing camera frames. Pure.

use crate::package::Fit;
use crate::picture::RgbImage;

/// `image` brought to exactly `w`×`h` the way `how` says. A picture of
/// exactly that size is returned unchanged (a copy).
pub fn fit(image: &RgbImage, w: u32, h: u32, how: Fit) -> RgbImage {
    match how {
        Fit::Crop => centre_crop_resize(image, w, h),
        Fit::Letterbox => letterbox(image, w, h),
    }
}

/// The whole of `image`, resized (aspect kept) to fit inside `w`×`h` and
/// centred; the bars left over are black.
pub fn letterbox(image: &RgbImage, w: u32, h: u32) -> RgbImage {
    if (image.width, image.height) == (w, h) || w == 0 || h == 0 || image.width == 0 {
        return image.clone();
    }
    let scale = (w as f64 / image.width as f64).min(h as f64 / image.height as f64);
    let inner_w = ((image.width as f64 * scale).round() as u32).clamp(1, w);
    let inner_h = ((image.height as f64 * scale).round() as u32).clamp(1, h);
    // Same aspect up to rounding: the crop takes at most a pixel's sliver.
    let inner = centre_crop_resize(image, inner_w, inner_h);
    let (x0, y0) = (((w - inner_w) / 2) as usize, ((h - inner_h) / 2) as usize);
    let mut rgb = vec![0u8; 3 * w as usize * h as usize];
    let row_bytes = 3 * inner_w as usize;
    for (y, src) in inner.rgb.chunks_exact(row_bytes).enumerate() {
        let at = 3 * ((y0 + y) * w as usize + x0);
        rgb[at..at + row_bytes].copy_from_slice(src);
    }
    RgbImage::new(w, h, rgb)
}

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
    use crate::pixels::rgb_to_nchw;

    /// A smooth, everywhere-varying picture (no flat areas, no edges), so
    /// resampling differences show up as level differences.
    fn smooth(width: u32, height: u32) -> RgbImage {
        let mut rgb = Vec::with_capacity(3 * (width * height) as usize);
        for y in 0..height {
            for x in 0..width {
                let (u, v) = (x as f32 / width as f32, y as f32 / height as f32);
                for c in 0..3 {
                    let phase = (u * 5.0 + v * 3.0 + c as f32 * 2.1).sin();
                    rgb.push((127.5 + 120.0 * phase).round() as u8);
                }
            }
        }
        RgbImage::new(width, height, rgb)
    }

    #[test]
    fn letterbox_keeps_the_whole_picture_on_black_bars() {
        // A 4x2 picture of two flat halves into 4x4: bars of one row
        // above and below, the picture itself unchanged in between.
        let mut rgb = Vec::new();
        for _ in 0..2 {
            for x in 0..4 {
                rgb.extend(if x < 2 { [200, 10, 10] } else { [10, 10, 200] });
            }
        }
        let picture = RgbImage::new(4, 2, rgb.clone());
        let boxed = fit(&picture, 4, 4, Fit::Letterbox);
        assert_eq!((boxed.width, boxed.height), (4, 4));
        assert!(boxed.rgb[..12].iter().all(|&v| v == 0), "top bar");
        assert_eq!(&boxed.rgb[12..36], &rgb[..], "the picture, whole");
        assert!(boxed.rgb[36..].iter().all(|&v| v == 0), "bottom bar");
        // Tall into wide: bars left and right, the height filled.
        let tall = smooth(30, 60);
        let boxed = letterbox(&tall, 40, 40);
        let px = |x: usize, y: usize| &boxed.rgb[3 * (y * 40 + x)..3 * (y * 40 + x) + 3];
        assert_eq!(
            (px(0, 20), px(39, 20)),
            (&[0u8, 0, 0][..], &[0u8, 0, 0][..])
        );
        assert!(
            (0..40).any(|y| px(20, y) != [0, 0, 0]),
            "the middle column is picture"
        );
        // The right size already: as is; crop is the default.
        assert_eq!(fit(&picture, 4, 2, Fit::Letterbox), picture);
        assert_eq!(
            fit(&tall, 40, 40, Fit::default()),
            centre_crop_resize(&tall, 40, 40)
        );
    }

    #[test]
    fn agrees_with_the_engine_within_half_a_level() {
        let frame = smooth(64, 48);
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
