//! YUYV (YUY2, packed 4:2:2) to RGB, as UVC webcams send it uncompressed.
//!
//! Each 4-byte group `Y0 U Y1 V` holds two pixels that share one chroma
//! sample. The conversion is ITU-R BT.601 with limited ("studio") range —
//! Y' in 16..235, Cb/Cr in 16..240 — which is what UVC cameras declare for
//! YUYV. From Kr = 0.299, Kb = 0.114:
//!
//! ```text
//! R = 1.164383 (Y - 16)                        + 1.596027 (V - 128)
//! G = 1.164383 (Y - 16) - 0.391762 (U - 128)   - 0.812968 (V - 128)
//! B = 1.164383 (Y - 16) + 2.017232 (U - 128)
//! ```
//!
//! rounded to the nearest level and clamped to 0..255. The arithmetic is
//! integer with 16 fractional bits: within one level of the exact values
//! (checked against a floating-point reference in the fixtures). Pure.

use super::DecodeError;
use easel_engine::picture::RgbImage;

const FRAC: u32 = 16;
const HALF: i32 = 1 << (FRAC - 1);
/// The coefficients above, times 2^16, rounded.
const Y_GAIN: i32 = 76_309;
const R_V: i32 = 104_597;
const G_U: i32 = 25_675;
const G_V: i32 = 53_279;
const B_U: i32 = 132_201;

#[inline]
fn level(v: i32) -> u8 {
    ((v + HALF) >> FRAC).clamp(0, 255) as u8
}

/// One pixel's RGB from its luma and its pair's chroma.
#[inline]
pub fn ycbcr_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let y = Y_GAIN * (y as i32 - 16);
    let (u, v) = (u as i32 - 128, v as i32 - 128);
    [
        level(y + R_V * v),
        level(y - G_U * u - G_V * v),
        level(y + B_U * u),
    ]
}

/// Converts a YUYV buffer of `width`×`height` whose rows start every
/// `stride` bytes (at least `2 * width`; drivers may pad rows).
pub fn to_rgb(buf: &[u8], width: u32, height: u32, stride: usize) -> Result<RgbImage, DecodeError> {
    if width % 2 == 1 {
        return Err(DecodeError::OddWidth(width));
    }
    let (w, h) = (width as usize, height as usize);
    let row_bytes = 2 * w;
    let needed = if h == 0 {
        0
    } else {
        stride * (h - 1) + row_bytes
    };
    if stride < row_bytes || buf.len() < needed {
        return Err(DecodeError::ShortYuyv {
            width,
            height,
            stride,
            got: buf.len(),
        });
    }
    let mut rgb = vec![0u8; 3 * w * h];
    for (row, out) in rgb.chunks_exact_mut(3 * w).enumerate() {
        let src = &buf[row * stride..row * stride + row_bytes];
        for (group, px) in src.chunks_exact(4).zip(out.chunks_exact_mut(6)) {
            let [y0, u, y1, v] = [group[0], group[1], group[2], group[3]];
            px[..3].copy_from_slice(&ycbcr_to_rgb(y0, u, v));
            px[3..].copy_from_slice(&ycbcr_to_rgb(y1, u, v));
        }
    }
    Ok(RgbImage::new(width, height, rgb))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/camera/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn reference_points() {
        assert_eq!(ycbcr_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(ycbcr_to_rgb(235, 128, 128), [255, 255, 255]);
        assert_eq!(ycbcr_to_rgb(126, 128, 128), [128, 128, 128]);
        // BT.601 75% red bar: Y 65, Cb 100, Cr 212 -> (191, 0, 0) within a level.
        let [r, g, b] = ycbcr_to_rgb(65, 100, 212);
        assert!(r.abs_diff(191) <= 1 && g <= 1 && b <= 1, "{r} {g} {b}");
        // Out of gamut clamps instead of wrapping.
        assert_eq!(ycbcr_to_rgb(0, 0, 0)[0], 0);
        assert_eq!(ycbcr_to_rgb(255, 255, 255)[2], 255);
    }

    #[test]
    fn matches_the_floating_point_reference_frame() {
        let yuyv = fixture("frame.yuyv");
        let expected = RgbImage::decode_png(&fixture("frame_yuyv_rgb.png")).unwrap();
        let got = to_rgb(&yuyv, 64, 48, 128).unwrap();
        assert_eq!((got.width, got.height), (64, 48));
        let worst = got
            .rgb
            .iter()
            .zip(&expected.rgb)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 1, "largest difference {worst} levels");
        let exact = got
            .rgb
            .iter()
            .zip(&expected.rgb)
            .filter(|(a, b)| a == b)
            .count();
        assert!(
            exact * 100 >= 99 * got.rgb.len(),
            "only {exact} of {} exact",
            got.rgb.len()
        );
    }

    #[test]
    fn padded_rows_are_skipped() {
        let yuyv = fixture("frame.yuyv");
        let stride = 128 + 16;
        let mut padded = vec![0xEE; stride * 48];
        for row in 0..48 {
            padded[row * stride..row * stride + 128]
                .copy_from_slice(&yuyv[row * 128..(row + 1) * 128]);
        }
        assert_eq!(
            to_rgb(&padded, 64, 48, stride).unwrap(),
            to_rgb(&yuyv, 64, 48, 128).unwrap()
        );
    }

    #[test]
    fn short_or_odd_buffers_are_errors() {
        assert!(matches!(
            to_rgb(&[0; 100], 64, 48, 128),
            Err(DecodeError::ShortYuyv { .. })
        ));
        assert_eq!(to_rgb(&[0; 100], 5, 2, 10), Err(DecodeError::OddWidth(5)));
        assert!(matches!(
            to_rgb(&[0; 1000], 4, 2, 4),
            Err(DecodeError::ShortYuyv { .. })
        ));
    }
}
