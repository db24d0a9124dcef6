//! `test://pattern`: a synthetic moving picture for trying a piece without a
//! camera, and the fallback while a camera is missing.
//!
//! A slow plasma coloured through a cosine palette, with a soft bright disc
//! orbiting the centre: every frame differs from the last (so live mode
//! keeps painting), and the picture has the edges and gradients a style
//! network needs to show what it does. [`render`] is a pure function of the
//! size and the time; [`PatternSource`] paces frames at `fps`.

use super::{Frame, FrameSource, SourceError};
use easel_engine::picture::RgbImage;
use std::f32::consts::TAU;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

pub const URI: &str = "test://pattern";

/// The pattern at `t` seconds.
///
/// Every term but the ring is a function of the column, the row or their
/// sum, so it is worked out once per column, row or diagonal, and the
/// waves go through one table ([`Cycle`]): a frame costs a few
/// milliseconds at 640x480, not the tens a sine per term and pixel took,
/// which live mode used to pay out of the cores painting the frames.
pub fn render(width: u32, height: u32, t: f32) -> RgbImage {
    let (w, h) = (width as usize, height as usize);
    // Coordinates in units of half the shorter side, centred: the same
    // shapes at any size and aspect.
    let unit = w.min(h).max(1) as f32 / 2.0;
    let (sun_x, sun_y) = (0.55 * (t * 0.4).cos(), 0.35 * (t * 0.4).sin());
    let us: Vec<f32> = (0..w)
        .map(|x| (x as f32 + 0.5 - w as f32 / 2.0) / unit)
        .collect();
    let vs: Vec<f32> = (0..h)
        .map(|y| (y as f32 + 0.5 - h as f32 / 2.0) / unit)
        .collect();
    let wave = &*WAVE;
    let column_wave: Vec<f32> = us.iter().map(|u| (u * 3.0 + t * 0.7).sin()).collect();
    let row_wave: Vec<f32> = vs.iter().map(|v| (v * 2.3 - t * 0.5).sin()).collect();
    // u + v depends on x + y only.
    let diagonal_wave: Vec<f32> = (0..w + h)
        .map(|d| {
            let uv = (d as f32 + 1.0 - (w + h) as f32 / 2.0) / unit;
            (uv * 2.0 + t * 0.3).cos()
        })
        .collect();
    // exp(-18 d²) with d² = du² + dv²: a column factor times a row factor.
    let column_glow: Vec<f32> = us
        .iter()
        .map(|u| (-(u - sun_x).powi(2) * 18.0).exp())
        .collect();
    let row_glow: Vec<f32> = vs
        .iter()
        .map(|v| (-(v - sun_y).powi(2) * 18.0).exp())
        .collect();
    let mut rgb = vec![0u8; 3 * w * h];
    for (y, row) in rgb.chunks_exact_mut(3 * w.max(1)).enumerate() {
        let v = vs[y];
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let u = us[x];
            let ring = wave.sin(((u * u + v * v).sqrt() * 4.0 - t * 1.1) / TAU);
            let plasma = column_wave[x] + row_wave[y] + ring + diagonal_wave[x + y];
            let phase = plasma * 0.125 + t * 0.05;
            let glow = column_glow[x] * row_glow[y];
            for (c, out) in px.iter_mut().enumerate() {
                let base = 0.5 + 0.45 * wave.cos(phase + c as f32 * 0.33);
                let value = base * (1.0 - glow) + glow;
                *out = (value.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
            }
        }
    }
    RgbImage::new(width, height, rgb)
}

/// The wave table, built once for every frame of every pattern.
static WAVE: LazyLock<Cycle> = LazyLock::new(Cycle::new);

/// cos and sin of an angle in turns, from a table: within 1e-3, far
/// below a level of 255, for a picture that only has to move.
struct Cycle(Vec<f32>);

impl Cycle {
    const STEPS: usize = 4096;

    fn new() -> Cycle {
        Cycle(
            (0..Cycle::STEPS)
                .map(|i| (TAU * i as f32 / Cycle::STEPS as f32).cos())
                .collect(),
        )
    }

    fn cos(&self, turns: f32) -> f32 {
        // The mask wraps whole turns, negative ones too.
        let step = (turns * Cycle::STEPS as f32) as i32 as usize;
        self.0[step & (Cycle::STEPS - 1)]
    }

    fn sin(&self, turns: f32) -> f32 {
        self.cos(turns - 0.25)
    }
}

/// Paces frames at a fixed rate against a start instant: frame `i` is due
/// at `start + i / fps`. A consumer that falls behind gets the next frame
/// at once rather than a burst of stale ones.
#[derive(Debug)]
pub struct Pace {
    start: Instant,
    period: Duration,
}

impl Pace {
    pub fn new(fps: f32) -> Pace {
        Pace {
            start: Instant::now(),
            period: Duration::from_secs_f32(1.0 / fps.max(0.001)),
        }
    }

    /// Sleeps until frame `index` is due; returns the index to use, which
    /// skips ahead past frames already missed.
    pub fn wait(&mut self, index: u64) -> u64 {
        let now = Instant::now();
        let due = self.start + self.period.mul_f64(index as f64);
        if due > now {
            std::thread::sleep(due - now);
            index
        } else {
            index.max((now - self.start).as_nanos() as u64 / self.period.as_nanos().max(1) as u64)
        }
    }

    /// Seconds since the start at frame `index`.
    pub fn seconds(&self, index: u64) -> f32 {
        (self.period.mul_f64(index as f64)).as_secs_f32()
    }
}

/// The pattern as a [`FrameSource`].
pub struct PatternSource {
    width: u32,
    height: u32,
    pace: Pace,
    next: u64,
    origin: Arc<str>,
}

impl PatternSource {
    pub fn new(width: u32, height: u32, fps: f32) -> PatternSource {
        PatternSource {
            width,
            height,
            pace: Pace::new(fps),
            next: 0,
            origin: URI.into(),
        }
    }
}

impl FrameSource for PatternSource {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        let index = self.pace.wait(self.next);
        self.next = index + 1;
        let image = render(self.width, self.height, self.pace.seconds(index));
        Ok(Frame {
            image: Arc::new(image),
            index,
            captured: Instant::now(),
            origin: self.origin.clone(),
        })
    }

    fn uri(&self) -> &str {
        URI
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_moving() {
        let a = render(64, 48, 1.5);
        assert_eq!(a, render(64, 48, 1.5));
        assert_ne!(a, render(64, 48, 1.6));
        assert_eq!((a.width, a.height, a.rgb.len()), (64, 48, 64 * 48 * 3));
    }

    /// The pattern's formula, every term evaluated at every pixel.
    fn by_formula(w: usize, h: usize, t: f32) -> Vec<u8> {
        let unit = w.min(h) as f32 / 2.0;
        let (sun_x, sun_y) = (0.55 * (t * 0.4).cos(), 0.35 * (t * 0.4).sin());
        let mut rgb = Vec::with_capacity(3 * w * h);
        for y in 0..h {
            let v = (y as f32 + 0.5 - h as f32 / 2.0) / unit;
            for x in 0..w {
                let u = (x as f32 + 0.5 - w as f32 / 2.0) / unit;
                let plasma = (u * 3.0 + t * 0.7).sin()
                    + (v * 2.3 - t * 0.5).sin()
                    + ((u * u + v * v).sqrt() * 4.0 - t * 1.1).sin()
                    + ((u + v) * 2.0 + t * 0.3).cos();
                let phase = plasma * 0.125 + t * 0.05;
                let glow = (-((u - sun_x).powi(2) + (v - sun_y).powi(2)) * 18.0).exp();
                for c in 0..3 {
                    let base = 0.5 + 0.45 * (TAU * (phase + c as f32 * 0.33)).cos();
                    let value = base * (1.0 - glow) + glow;
                    rgb.push((value.clamp(0.0, 1.0) * 255.0).round() as u8);
                }
            }
        }
        rgb
    }

    #[test]
    fn the_tables_draw_the_formula_within_a_level() {
        for (w, h, t) in [
            (640, 480, 0.0),
            (320, 240, 1.3),
            (97, 131, 7.9),
            (1, 1, 2.0),
        ] {
            let drawn = render(w as u32, h as u32, t);
            let formula = by_formula(w, h, t);
            let worst = drawn
                .rgb
                .iter()
                .zip(&formula)
                .map(|(a, b)| a.abs_diff(*b))
                .max();
            assert_eq!(drawn.rgb.len(), formula.len());
            assert!(worst <= Some(1), "{w}x{h} at {t}: {worst:?} levels apart");
        }
    }

    #[test]
    fn colourful_not_flat() {
        let img = render(96, 64, 0.0);
        for c in 0..3 {
            let channel: Vec<u8> = img.rgb.iter().skip(c).step_by(3).copied().collect();
            let (lo, hi) = (channel.iter().min().unwrap(), channel.iter().max().unwrap());
            assert!(hi - lo > 100, "channel {c} spans only {lo}..{hi}");
        }
    }

    #[test]
    fn source_counts_frames_at_its_rate() {
        let mut s = PatternSource::new(32, 24, 200.0);
        let started = Instant::now();
        let frames: Vec<Frame> = (0..5).map(|_| s.next_frame().unwrap()).collect();
        assert!(
            started.elapsed() >= Duration::from_millis(19),
            "{:?}",
            started.elapsed()
        );
        assert!(frames.windows(2).all(|f| f[1].index > f[0].index));
        assert_eq!(frames[0].image.as_ref(), &render(32, 24, 0.0));
        assert_eq!(&*frames[0].origin, "test://pattern");
    }
}
