//! The LED strip: the colours of the picture on screen, around the piece.
//!
//! The daemon publishes its current image's dominant colours on
//! `P/N/palette` (most dominant first). [`Strip`] lays them out as equal
//! contiguous segments along the strip, scales them to a brightness cap
//! (a strip at full white draws amps a USB supply cannot give), and
//! crossfades from the previous palette over `fade_ms` so a new picture
//! washes in instead of snapping. With no palette yet the strip shows a dim
//! idle colour. `render(now, out)` fills a pixel buffer; the driver
//! (`ws2812`) writes it. No IO here.

use easel_protocol::{Palette, Rgb};

/// Strip settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StripConfig {
    /// Brightness cap, 0..=255 (255 = full).
    pub brightness: u8,
    pub fade_ms: u64,
    /// Shown before the first palette arrives.
    pub idle: Rgb,
}

impl Default for StripConfig {
    fn default() -> Self {
        StripConfig {
            brightness: 64,
            fade_ms: 800,
            idle: Rgb(8, 8, 8),
        }
    }
}

/// Palette-to-pixels renderer with crossfade.
#[derive(Debug, Clone)]
pub struct Strip {
    config: StripConfig,
    from: Option<Palette>,
    to: Option<Palette>,
    changed_at: u64,
}

impl Strip {
    pub fn new(config: StripConfig) -> Strip {
        Strip {
            config,
            from: None,
            to: None,
            changed_at: 0,
        }
    }

    /// Starts a crossfade to `palette` (ignored when it is already shown).
    pub fn set_palette(&mut self, palette: Palette, now: u64) {
        if self.to == Some(palette) {
            return;
        }
        self.from = self.to;
        self.to = Some(palette);
        self.changed_at = now;
    }

    /// True while a crossfade is running (the caller should keep
    /// rendering; otherwise the frame is static).
    pub fn is_fading(&self, now: u64) -> bool {
        self.to.is_some() && now.saturating_sub(self.changed_at) < self.config.fade_ms
    }

    /// Fills `out` with the colours to show at `now`.
    pub fn render(&self, now: u64, out: &mut [Rgb]) {
        let n = out.len();
        let t = (now.saturating_sub(self.changed_at).min(self.config.fade_ms) * 256)
            .checked_div(self.config.fade_ms)
            .unwrap_or(256) as u32;
        for (i, px) in out.iter_mut().enumerate() {
            let old = self.colour_at(self.from.as_ref(), i, n);
            let new = self.colour_at(self.to.as_ref(), i, n);
            *px = self.dim(mix(old, new, t));
        }
    }

    fn colour_at(&self, palette: Option<&Palette>, i: usize, n: usize) -> Rgb {
        match palette.map(Palette::colours) {
            Some(colours) if !colours.is_empty() => colours[i * colours.len() / n.max(1)],
            _ => self.config.idle,
        }
    }

    fn dim(&self, Rgb(r, g, b): Rgb) -> Rgb {
        let k = self.config.brightness as u32 + 1;
        let s = |c: u8| ((c as u32 * k) >> 8) as u8;
        Rgb(s(r), s(g), s(b))
    }
}

/// Linear mix, `t` in 0..=256 (256 = all `b`).
fn mix(a: Rgb, b: Rgb, t: u32) -> Rgb {
    let m = |x: u8, y: u8| ((x as u32 * (256 - t) + y as u32 * t) >> 8) as u8;
    Rgb(m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: StripConfig = StripConfig {
        brightness: 255,
        fade_ms: 1000,
        idle: Rgb(8, 8, 8),
    };

    #[test]
    fn idle_before_any_palette() {
        let strip = Strip::new(FULL);
        let mut px = [Rgb::default(); 4];
        strip.render(0, &mut px);
        assert_eq!(px, [Rgb(8, 8, 8); 4]);
    }

    #[test]
    fn segments_follow_the_palette_order() {
        let mut strip = Strip::new(FULL);
        let p = Palette::new(&[Rgb(255, 0, 0), Rgb(0, 255, 0), Rgb(0, 0, 255)]);
        strip.set_palette(p, 0);
        let mut px = [Rgb::default(); 6];
        strip.render(5000, &mut px);
        assert_eq!(
            px,
            [
                Rgb(255, 0, 0),
                Rgb(255, 0, 0),
                Rgb(0, 255, 0),
                Rgb(0, 255, 0),
                Rgb(0, 0, 255),
                Rgb(0, 0, 255)
            ]
        );
    }

    #[test]
    fn crossfade_table() {
        let mut strip = Strip::new(FULL);
        strip.set_palette(Palette::new(&[Rgb(200, 0, 0)]), 0);
        strip.set_palette(Palette::new(&[Rgb(0, 0, 200)]), 10_000);
        let cases = [
            (10_000, Rgb(200, 0, 0)),
            (10_500, Rgb(100, 0, 100)),
            (11_000, Rgb(0, 0, 200)),
            (20_000, Rgb(0, 0, 200)),
        ];
        for (now, want) in cases {
            let mut px = [Rgb::default(); 1];
            strip.render(now, &mut px);
            assert_eq!(px[0], want, "at {now}");
        }
        assert!(strip.is_fading(10_999));
        assert!(!strip.is_fading(11_000));
    }

    #[test]
    fn brightness_cap_and_repeated_palette() {
        let mut strip = Strip::new(StripConfig {
            brightness: 63,
            fade_ms: 0,
            ..FULL
        });
        let p = Palette::new(&[Rgb(255, 128, 0)]);
        strip.set_palette(p, 0);
        strip.set_palette(p, 50); // same palette: no restart
        let mut px = [Rgb::default(); 2];
        strip.render(50, &mut px);
        assert_eq!(px, [Rgb(63, 32, 0); 2]);
    }
}
