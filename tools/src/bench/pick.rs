//! `easel bench --pick`'s choice, pure: among the measured (package,
//! engine) rows, the fastest that is good enough, judged on the worst
//! sample as well as the mean, in both quality and speed:
//!
//! - quality: a variant qualifies when its recorded mean PSNR against the
//!   f32 source meets the floor **and** its worst sample meets the worst
//!   floor (a variant fine on average but with one ruined picture is not
//!   shown to visitors); f32 sources always qualify;
//! - speed: among those, only rows whose p99 (with fewer than 100 runs,
//!   the slowest run) is within [`TAIL_SLACK`] of the best p99 compete,
//!   and the lowest mean latency wins: a row fast on average but with
//!   long stalls does not win on its average;
//! - margin: a faster mean wins only when it is faster by a measured
//!   margin (the larger of [`MIN_MARGIN`] and [`SIGMAS`] standard errors
//!   of the difference). Among the rows no slower than the fastest by that
//!   margin, the simplest wins: the smallest file, then tract (built in,
//!   no library to install) before onnxruntime. 0.13 ms against 0.13 ms
//!   is no reason to ship a quantized variant.

/// How much slower than the best worst-run a row's worst run may be.
pub const TAIL_SLACK: f64 = 1.25;

/// The smallest difference in mean that counts, as a share of the slower.
pub const MIN_MARGIN: f64 = 0.03;

/// How many standard errors of the difference a faster mean must beat.
pub const SIGMAS: f64 = 3.0;

/// One measured package on one engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// `model on engine`, for messages.
    pub label: String,
    pub mean_ms: f64,
    pub p99_ms: f64,
    /// `[variant] psnr_db` and `psnr_worst_db`; `None` for an f32 source.
    pub psnr_db: Option<f64>,
    pub psnr_worst_db: Option<f64>,
    /// Standard error of `mean_ms` (standard deviation / sqrt(runs)).
    pub sem_ms: f64,
    /// The ONNX file's size.
    pub bytes: u64,
    /// Runs on tract (nothing to install beside easel).
    pub tract: bool,
}

impl Candidate {
    /// Sorts simpler first: smaller file, then tract.
    fn simplicity(&self) -> (u64, bool) {
        (self.bytes, !self.tract)
    }
}

/// How much faster than `b` a row must be to count as faster.
pub fn margin(a: &Candidate, b: &Candidate) -> f64 {
    let noise = SIGMAS * (a.sem_ms.powi(2) + b.sem_ms.powi(2)).sqrt();
    (MIN_MARGIN * a.mean_ms.max(b.mean_ms)).max(noise)
}

/// The quality floors, dB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floors {
    pub mean_db: f64,
    pub worst_db: f64,
}

/// The winner's index, and why each other row lost.
pub fn choose(candidates: &[Candidate], floors: Floors) -> (Option<usize>, Vec<String>) {
    let mut why = Vec::new();
    let good: Vec<usize> = (0..candidates.len())
        .filter(|&i| {
            let c = &candidates[i];
            match (c.psnr_db, c.psnr_worst_db) {
                (Some(mean), _) if mean < floors.mean_db => {
                    why.push(format!(
                        "{}: {mean:.1} dB mean is below the {:.1} dB floor",
                        c.label, floors.mean_db
                    ));
                    false
                }
                (_, Some(worst)) if worst < floors.worst_db => {
                    why.push(format!(
                        "{}: {worst:.1} dB on its worst sample is below the {:.1} dB floor",
                        c.label, floors.worst_db
                    ));
                    false
                }
                _ => true,
            }
        })
        .collect();
    let Some(best_tail) = good
        .iter()
        .map(|&i| candidates[i].p99_ms)
        .min_by(f64::total_cmp)
    else {
        return (None, why);
    };
    let steady: Vec<usize> = good
        .into_iter()
        .filter(|&i| {
            let c = &candidates[i];
            let ok = c.p99_ms <= best_tail * TAIL_SLACK;
            if !ok {
                why.push(format!(
                    "{}: its slowest run ({:.2} ms) is more than {TAIL_SLACK}x the best slowest run ({best_tail:.2} ms)",
                    c.label, c.p99_ms
                ));
            }
            ok
        })
        .collect();
    let Some(&fastest) = steady
        .iter()
        .min_by(|&&a, &&b| candidates[a].mean_ms.total_cmp(&candidates[b].mean_ms))
    else {
        return (None, why);
    };
    let fast = &candidates[fastest];
    // Every row no slower than the fastest by a measured margin: the
    // simplest of them wins.
    let mut tied: Vec<usize> = steady
        .into_iter()
        .filter(|&i| candidates[i].mean_ms - fast.mean_ms <= margin(&candidates[i], fast))
        .collect();
    tied.sort_by(|&a, &b| {
        candidates[a]
            .simplicity()
            .cmp(&candidates[b].simplicity())
            .then(candidates[a].mean_ms.total_cmp(&candidates[b].mean_ms))
    });
    let winner = tied[0];
    let w = &candidates[winner];
    for &i in &tied[1..] {
        let c = &candidates[i];
        let simpler = if w.bytes < c.bytes {
            format!("the smaller file ({} against {} bytes)", w.bytes, c.bytes)
        } else {
            "tract (nothing to install) at the same size".to_string()
        };
        why.push(format!(
            "{}: {:.3} ms mean is within the {:.3} ms margin of the fastest ({:.3} ms, noise {:.3} ms); {} wins as {simpler}",
            c.label,
            c.mean_ms,
            margin(c, fast),
            fast.mean_ms,
            c.sem_ms,
            w.label
        ));
    }
    (Some(winner), why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(label: &str, mean: f64, p99: f64, psnr: Option<(f64, f64)>) -> Candidate {
        Candidate {
            label: label.into(),
            mean_ms: mean,
            p99_ms: p99,
            psnr_db: psnr.map(|p| p.0),
            psnr_worst_db: psnr.map(|p| p.1),
            sem_ms: 0.0,
            bytes: if psnr.is_some() { 1000 } else { 4000 },
            tract: !label.contains("onnxruntime"),
        }
    }

    const FLOORS: Floors = Floors {
        mean_db: 30.0,
        worst_db: 25.0,
    };

    #[test]
    fn the_fastest_good_enough_row_wins() {
        let rows = [
            c("f32 on tract", 400.0, 420.0, None),
            c("f32 on onnxruntime", 170.0, 180.0, None),
            c("int8 on onnxruntime", 120.0, 130.0, Some((38.0, 33.0))),
        ];
        assert_eq!(choose(&rows, FLOORS).0, Some(2));
    }

    #[test]
    fn a_ruined_worst_sample_disqualifies_a_good_mean() {
        let rows = [
            c("f32", 170.0, 180.0, None),
            c("int8", 120.0, 130.0, Some((34.0, 21.0))),
        ];
        let (winner, why) = choose(&rows, FLOORS);
        assert_eq!(winner, Some(0));
        assert!(why[0].contains("worst sample"), "{why:?}");
        let low_mean = [c("int8", 1.0, 1.0, Some((29.0, 29.0)))];
        assert_eq!(choose(&low_mean, FLOORS).0, None);
    }

    #[test]
    fn a_long_tail_does_not_win_on_its_mean() {
        let rows = [
            c("steady", 110.0, 120.0, None),
            c("stalls", 100.0, 400.0, None),
        ];
        let (winner, why) = choose(&rows, FLOORS);
        assert_eq!(winner, Some(0));
        assert!(why[0].contains("slowest run"), "{why:?}");
        // Within the slack, the mean decides.
        let close = [c("a", 110.0, 120.0, None), c("b", 100.0, 140.0, None)];
        assert_eq!(choose(&close, FLOORS).0, Some(1));
    }

    #[test]
    fn a_difference_within_the_noise_goes_to_the_simplest() {
        // 0.13 ms against 0.13 ms: no margin, the smaller file wins, and
        // between files of one size, tract.
        let mut f32 = c("f32 on tract", 0.131, 0.14, None);
        let mut int8 = c("int8 on tract", 0.130, 0.14, Some((40.0, 35.0)));
        f32.sem_ms = 0.002;
        int8.sem_ms = 0.002;
        let (winner, why) = choose(&[f32.clone(), int8.clone()], FLOORS);
        assert_eq!(winner, Some(1), "{why:?}");
        assert!(why[0].contains("margin"), "{why:?}");
        let ort = c("f32 on onnxruntime", 0.129, 0.14, None);
        assert_eq!(choose(&[ort.clone(), f32.clone()], FLOORS).0, Some(1));
        // Noisy runs widen the margin: 10 % faster is not enough with a
        // 0.01 ms standard error on 0.13 ms.
        let mut fast = c("f32 on onnxruntime", 0.118, 0.14, None);
        fast.sem_ms = 0.01;
        assert_eq!(choose(&[fast.clone(), f32.clone()], FLOORS).0, Some(1));
        // A measured margin wins.
        fast.sem_ms = 0.001;
        f32.sem_ms = 0.001;
        assert_eq!(choose(&[fast, f32], FLOORS).0, Some(0));
    }
}
