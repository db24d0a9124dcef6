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
//!   long stalls does not win on its average.

/// How much slower than the best worst-run a row's worst run may be.
pub const TAIL_SLACK: f64 = 1.25;

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
    let winner = steady
        .into_iter()
        .min_by(|&a, &b| candidates[a].mean_ms.total_cmp(&candidates[b].mean_ms));
    (winner, why)
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
}
