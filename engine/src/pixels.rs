//! Conversions between tensors and pixels, exactly as docs/contract.md says:
//! an output value `v` becomes `round(clamp((v - lo) / (hi - lo), 0, 1) * 255)`;
//! an input pixel `p` becomes `lo + p / 255 * (hi - lo)`; a picture of a
//! different size is centre-cropped to the model's aspect and resized.
//! Also the CPPN coordinate grid. Pure functions, no tract state.

use crate::package::Layout;
use crate::picture::RgbImage;

/// Why a tensor cannot become a picture.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PixelError {
    #[error("output shape {0:?} is not an image ([1, C, H, W] or [1, H, W, C] with C = 1, 3 or 4)")]
    Shape(Vec<usize>),
}

/// Maps one output value to an 8-bit level.
#[inline]
pub fn to_level(v: f32, lo: f32, hi: f32) -> u8 {
    let unit = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
    // NaN clamps to NaN and casts to 0: a broken model shows black, not a panic.
    (unit * 255.0).round() as u8
}

/// The image held by batch item `index` of an output tensor `data` of `shape`.
pub fn tensor_to_rgb(
    data: &[f32],
    shape: &[usize],
    layout: Layout,
    range: [f32; 2],
    index: usize,
) -> Result<RgbImage, PixelError> {
    let bad = || PixelError::Shape(shape.to_vec());
    let &[n, a, b, c] = shape else {
        return Err(bad());
    };
    let (channels, h, w) = match layout {
        Layout::Nchw => (a, b, c),
        Layout::Nhwc => (c, a, b),
    };
    if index >= n || !matches!(channels, 1 | 3 | 4) || h == 0 || w == 0 {
        return Err(bad());
    }
    let plane = h * w;
    let item = &data[index * channels * plane..(index + 1) * channels * plane];
    let [lo, hi] = range;
    let mut rgb = vec![0u8; 3 * plane];
    if layout == Layout::Nchw && channels >= 3 {
        // The common case, planes read in step (a 1080p CPPN's 6 M values
        // are a few ms this way); the same formula, value for value.
        let (r, rest) = item.split_at(plane);
        let (g, rest) = rest.split_at(plane);
        let b = &rest[..plane];
        for (((px, &r), &g), &b) in rgb.chunks_exact_mut(3).zip(r).zip(g).zip(b) {
            px[0] = to_level(r, lo, hi);
            px[1] = to_level(g, lo, hi);
            px[2] = to_level(b, lo, hi);
        }
        return Ok(RgbImage::new(w as u32, h as u32, rgb));
    }
    for (p, px) in rgb.chunks_exact_mut(3).enumerate() {
        for (ch, out) in px.iter_mut().enumerate() {
            // Grey outputs repeat their one channel; alpha is dropped.
            let src = if channels == 1 { 0 } else { ch };
            let v = match layout {
                Layout::Nchw => item[src * plane + p],
                Layout::Nhwc => item[p * channels + src],
            };
            *out = to_level(v, lo, hi);
        }
    }
    Ok(RgbImage::new(w as u32, h as u32, rgb))
}

/// An `[1, 3, h, w]` input tensor's values from a picture: centre-cropped
/// to the target aspect, resized bilinearly, mapped onto `range`.
pub fn rgb_to_nchw(image: &RgbImage, w: usize, h: usize, range: [f32; 2]) -> Vec<f32> {
    let [lo, hi] = range;
    let scale = (hi - lo) / 255.0;
    let mut out = vec![0f32; 3 * w * h];
    let plane = w * h;
    if image.width as usize == w && image.height as usize == h {
        for (p, px) in image.rgb.chunks_exact(3).enumerate() {
            for ch in 0..3 {
                out[ch * plane + p] = lo + px[ch] as f32 * scale;
            }
        }
        return out;
    }
    let (sw, sh) = (image.width as f32, image.height as f32);
    // The largest centred region of the source with the target's aspect.
    let target_aspect = w as f32 / h as f32;
    let (cw, ch) = if sw / sh > target_aspect {
        (sh * target_aspect, sh)
    } else {
        (sw, sw / target_aspect)
    };
    let (x0, y0) = ((sw - cw) / 2.0, (sh - ch) / 2.0);
    let sample =
        |x: usize, y: usize, c: usize| image.rgb[(y * image.width as usize + x) * 3 + c] as f32;
    for ty in 0..h {
        let sy = (y0 + (ty as f32 + 0.5) * ch / h as f32 - 0.5).clamp(0.0, sh - 1.0);
        let (y_lo, fy) = (sy.floor() as usize, sy.fract());
        let y_hi = (y_lo + 1).min(image.height as usize - 1);
        for tx in 0..w {
            let sx = (x0 + (tx as f32 + 0.5) * cw / w as f32 - 0.5).clamp(0.0, sw - 1.0);
            let (x_lo, fx) = (sx.floor() as usize, sx.fract());
            let x_hi = (x_lo + 1).min(image.width as usize - 1);
            for c in 0..3 {
                let top = sample(x_lo, y_lo, c) * (1.0 - fx) + sample(x_hi, y_lo, c) * fx;
                let bottom = sample(x_lo, y_hi, c) * (1.0 - fx) + sample(x_hi, y_hi, c) * fx;
                let v = top * (1.0 - fy) + bottom * fy;
                out[c * plane + ty * w + tx] = lo + v * scale;
            }
        }
    }
    out
}

/// The CPPN coordinate grid `[1, 3, h, w]`: channels x, y, r.
///
/// Pixel centres are measured from the picture's centre in units of half
/// its shorter side, times `scale`: the same model draws the same shapes at
/// any resolution, and a wider picture shows more of the plane rather than
/// a stretched one.
pub fn cppn_coords(w: usize, h: usize, scale: f32) -> Vec<f32> {
    let unit = w.min(h) as f32 / 2.0;
    let plane = w * h;
    let mut out = vec![0f32; 3 * plane];
    for y in 0..h {
        let cy = (y as f32 + 0.5 - h as f32 / 2.0) / unit * scale;
        for x in 0..w {
            let cx = (x as f32 + 0.5 - w as f32 / 2.0) / unit * scale;
            let p = y * w + x;
            out[p] = cx;
            out[plane + p] = cy;
            out[2 * plane + p] = (cx * cx + cy * cy).sqrt();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_pixel_formula() {
        assert_eq!(to_level(-1.0, -1.0, 1.0), 0);
        assert_eq!(to_level(1.0, -1.0, 1.0), 255);
        assert_eq!(to_level(0.0, -1.0, 1.0), 128); // 127.5 rounds away from zero
        assert_eq!(to_level(5.0, -1.0, 1.0), 255);
        assert_eq!(to_level(-5.0, -1.0, 1.0), 0);
        assert_eq!(to_level(f32::NAN, 0.0, 1.0), 0);
        assert_eq!(to_level(0.5, 0.0, 255.0), 1);
    }

    #[test]
    fn layouts_agree() {
        // 2x1 image: left pixel red, right pixel blue.
        let nchw = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let nhwc = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let a = tensor_to_rgb(&nchw, &[1, 3, 1, 2], Layout::Nchw, [0.0, 1.0], 0).unwrap();
        assert_eq!(a.rgb, vec![255, 0, 0, 0, 0, 255]);
        let b = tensor_to_rgb(&nhwc, &[1, 1, 2, 3], Layout::Nhwc, [0.0, 1.0], 0).unwrap();
        assert_eq!(b.rgb, vec![255, 0, 0, 0, 0, 255]);
        assert!(tensor_to_rgb(&nchw, &[6], Layout::Nchw, [0.0, 1.0], 0).is_err());
        assert!(tensor_to_rgb(&nchw, &[1, 2, 1, 3], Layout::Nchw, [0.0, 1.0], 0).is_err());
    }

    #[test]
    fn planar_pictures_follow_the_formula_value_for_value() {
        // 3 and 4 channels (alpha dropped), odd values around level edges.
        for channels in [3usize, 4] {
            let (w, h) = (5, 3);
            let data: Vec<f32> = (0..channels * w * h)
                .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 1.01)
                .collect();
            let shape = [1, channels, h, w];
            let got = tensor_to_rgb(&data, &shape, Layout::Nchw, [-1.0, 1.0], 0).unwrap();
            let plane = w * h;
            let want: Vec<u8> = (0..plane)
                .flat_map(|p| (0..3).map(move |c| (p, c)))
                .map(|(p, c)| to_level(data[c * plane + p], -1.0, 1.0))
                .collect();
            assert_eq!(got.rgb, want, "{channels} channels");
        }
    }

    #[test]
    fn batch_items_are_separate() {
        let data = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let second = tensor_to_rgb(&data, &[2, 3, 1, 1], Layout::Nchw, [0.0, 1.0], 1).unwrap();
        assert_eq!(second.rgb, vec![255, 255, 255]);
    }

    #[test]
    fn input_mapping_same_size_is_exact() {
        let img = RgbImage::new(1, 1, vec![0, 255, 51]);
        let got = rgb_to_nchw(&img, 1, 1, [-1.0, 1.0]);
        for (g, w) in got.iter().zip([-1.0, 1.0, -0.6]) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
    }

    #[test]
    fn resize_crops_centre() {
        // 4x2 source: the outer columns are black, the centre 2x2 white.
        let mut rgb = vec![0u8; 4 * 2 * 3];
        for y in 0..2 {
            for x in 1..3 {
                rgb[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3].fill(255);
            }
        }
        let out = rgb_to_nchw(&RgbImage::new(4, 2, rgb), 2, 2, [0.0, 255.0]);
        assert!(out.iter().all(|v| *v == 255.0), "{out:?}");
    }

    #[test]
    fn cppn_grid_is_centred_and_aspect_true() {
        let g = cppn_coords(4, 2, 1.0);
        let plane = 8;
        // Top-left pixel centre: x = -1.5, y = -0.5 in units of 1 pixel (unit = 1).
        assert_eq!(g[0], -1.5);
        assert_eq!(g[plane], -0.5);
        assert!((g[2 * plane] - (1.5f32 * 1.5 + 0.25).sqrt()).abs() < 1e-6);
        // Symmetric about the centre.
        assert_eq!(g[0], -g[3]);
        assert_eq!(g[plane], -g[plane + 4]);
    }
}
