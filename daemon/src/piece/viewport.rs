//! The kiosk screen's size, as the gallery page reports it (`/live?viewport=
//! WxH`, device pixels), and the size a CPPN picture is rendered at to fill
//! it: CPPNs render at any resolution, so a still CPPN picture takes the
//! screen's size and aspect instead of the manifest's square, scaled down
//! (aspect kept) to the engine's limits. Pure.

use easel_engine::model::{MAX_PIXELS, MAX_SIDE};

/// Smallest side a reported screen may have: smaller is not a screen.
const MIN_SIDE: u32 = 16;

/// `"1920x1080"` -> `(1920, 1080)`; anything else (or a side below 16 or
/// absurdly large) is not a viewport.
pub fn parse(text: &str) -> Option<(u32, u32)> {
    let (w, h) = text.split_once('x')?;
    let (w, h): (u32, u32) = (w.parse().ok()?, h.parse().ok()?);
    let sane = |v: u32| (MIN_SIDE..=1 << 16).contains(&v);
    (sane(w) && sane(h)).then_some((w, h))
}

/// The CPPN render size for a screen of `viewport`: the screen's own size
/// when it is within the engine's limits, else scaled down to fit them.
pub fn cppn_size(viewport: (u32, u32)) -> (u32, u32) {
    let (w, h) = (viewport.0 as f64, viewport.1 as f64);
    let by_side = (MAX_SIDE as f64 / w.max(h)).min(1.0);
    let by_pixels = (MAX_PIXELS as f64 / (w * h)).sqrt().min(1.0);
    let scale = by_side.min(by_pixels);
    let fit = |v: f64| ((v * scale).floor() as u32).max(1);
    (fit(w), fit(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_sizes() {
        assert_eq!(parse("1920x1080"), Some((1920, 1080)));
        assert_eq!(parse("1080x1920"), Some((1080, 1920)));
        for bad in [
            "",
            "1920",
            "x",
            "1920x",
            "-1x5",
            "0x0",
            "8x8",
            "1e3x5",
            "99999999x2",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_screen_size_within_the_limits() {
        assert_eq!(cppn_size((1920, 1080)), (1920, 1080));
        assert_eq!(cppn_size((3840, 2160)), (3840, 2160));
        // A 5K screen: 16:9 kept, the pixel limit held.
        let (w, h) = cppn_size((5120, 2880));
        assert!(w as u64 * h as u64 <= MAX_PIXELS, "{w}x{h}");
        assert!((w as f64 / h as f64 - 16.0 / 9.0).abs() < 0.01, "{w}x{h}");
        // A very wide strip: the side limit holds.
        let (w, h) = cppn_size((10_000, 100));
        assert!(w <= MAX_SIDE && h >= 1, "{w}x{h}");
    }
}
