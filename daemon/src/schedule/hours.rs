//! Opening hours: whether the piece is open at an instant, and when that
//! next changes. Pure: the clock is an argument, so the tests move it
//! freely (midnight, a night opening past it, daylight-saving changes, the
//! week's wrap) and the task (`task.rs`) only sleeps until the next change.
//!
//! Hours are the venue's wall-clock times in one time zone, the way a
//! gallery writes them on its door: `mon = "10:00-18:00"`, several openings
//! with commas, `"closed"`, and an end before the start for a night that
//! runs past midnight (`"20:00-02:00"` is open until 2 on the next day).

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// The keys of `[schedule]` that hold a day, Monday first.
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const DAY_SECONDS: i64 = 24 * 3600;

/// One opening on one day, in seconds from that day's midnight; `end`
/// passes `DAY_SECONDS` when the opening runs into the next day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Opening {
    start: i64,
    end: i64,
}

/// Why a day's value is not opening hours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    #[error("{0:?} is not a time range: write \"HH:MM-HH:MM\", several with commas, or \"closed\"")]
    NotARange(String),
    #[error("{0:?} is not a time of day (00:00 to 24:00)")]
    NotATime(String),
    #[error("{0:?} opens and closes at the same time")]
    Empty(String),
}

/// The week's opening hours, Monday first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hours {
    week: [Vec<Opening>; 7],
}

impl Hours {
    /// From each day's text, Monday first; `None` is closed all day.
    pub fn parse(days: [Option<&str>; 7]) -> Result<Hours, Vec<(&'static str, HoursError)>> {
        let mut hours = Hours::default();
        let mut errors = Vec::new();
        for (i, text) in days.iter().enumerate() {
            match text.map(parse_day).unwrap_or(Ok(Vec::new())) {
                Ok(openings) => hours.week[i] = openings,
                Err(e) => errors.push((DAYS[i], e)),
            }
        }
        match errors.is_empty() {
            true => Ok(hours),
            false => Err(errors),
        }
    }

    /// Open at this wall-clock time.
    pub fn open_at(&self, local: DateTime) -> bool {
        let day = usize::try_from(local.date().weekday().to_monday_zero_offset()).unwrap_or(0);
        let t = local.time();
        let s = i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second());
        let yesterday = (day + 6) % 7;
        self.week[day].iter().any(|o| o.start <= s && s < o.end)
            || self.week[yesterday]
                .iter()
                .any(|o| o.start <= s + DAY_SECONDS && s + DAY_SECONDS < o.end)
    }

    /// Every instant an opening starts or ends, from the day before
    /// `from`'s date to eight days after, in the zone's time.
    fn edges(&self, zone: &TimeZone, from: Date) -> Vec<Timestamp> {
        let mut edges = Vec::new();
        for offset in -1..=8i64 {
            let Ok(date) = from.checked_add(jiff::SignedDuration::from_hours(offset * 24)) else {
                continue;
            };
            let day = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
            for o in &self.week[day] {
                for s in [o.start, o.end] {
                    if let Some(t) = at(zone, date, s) {
                        edges.push(t);
                    }
                }
            }
        }
        edges.sort();
        edges
    }
}

/// The wall-clock time `seconds` after `date`'s midnight as an instant.
/// A time the clocks skip (spring forward) is taken as the instant after
/// the gap; a time they repeat (fall back), its first occurrence.
fn at(zone: &TimeZone, date: Date, seconds: i64) -> Option<Timestamp> {
    let days = seconds.div_euclid(DAY_SECONDS);
    let rest = seconds.rem_euclid(DAY_SECONDS);
    let date = date
        .checked_add(jiff::SignedDuration::from_hours(days * 24))
        .ok()?;
    let dt = date.at(
        (rest / 3600) as i8,
        (rest % 3600 / 60) as i8,
        (rest % 60) as i8,
        0,
    );
    zone.to_ambiguous_timestamp(dt).compatible().ok()
}

/// One day's text: `closed`, or `HH:MM-HH:MM[, HH:MM-HH:MM…]`.
fn parse_day(text: &str) -> Result<Vec<Opening>, HoursError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("closed") {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|range| {
            let range = range.trim();
            let (a, b) = range
                .split_once('-')
                .ok_or_else(|| HoursError::NotARange(range.to_string()))?;
            let (start, end) = (time(a.trim())?, time(b.trim())?);
            if start == DAY_SECONDS {
                return Err(HoursError::NotATime(a.trim().to_string()));
            }
            if start == end {
                return Err(HoursError::Empty(range.to_string()));
            }
            // An end before the start: the opening runs past midnight.
            let end = if end < start { end + DAY_SECONDS } else { end };
            Ok(Opening { start, end })
        })
        .collect()
}

/// `HH:MM` (or `H:MM`) as seconds from midnight; `24:00` is the end of the day.
fn time(text: &str) -> Result<i64, HoursError> {
    let bad = || HoursError::NotATime(text.to_string());
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    match (h, m) {
        (24, 0) => Ok(DAY_SECONDS),
        (0..=23, 0..=59) => Ok(h * 3600 + m * 60),
        _ => Err(bad()),
    }
}

/// Opening hours in a time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub hours: Hours,
    pub zone: TimeZone,
}

/// Whether the piece is open now, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub open: bool,
    /// The next instant `open` changes; `None` when it never does (open
    /// all week round, or closed every day).
    pub next_change: Option<Timestamp>,
}

impl Schedule {
    pub fn at(&self, now: Timestamp) -> Status {
        let open = self.hours.open_at(self.zone.to_datetime(now));
        let mut candidates = self
            .hours
            .edges(&self.zone, self.zone.to_datetime(now).date());
        // The zone's own changes: an opening inside a skipped hour starts
        // when the clocks jump past its start.
        let horizon = now
            .saturating_add(jiff::SignedDuration::from_hours(9 * 24))
            .unwrap_or(now);
        candidates.extend(
            self.zone
                .following(now)
                .map(|t| t.timestamp())
                .take_while(|t| *t <= horizon),
        );
        candidates.sort();
        let next_change = candidates
            .into_iter()
            .filter(|t| *t > now)
            .find(|t| self.hours.open_at(self.zone.to_datetime(*t)) != open);
        Status { open, next_change }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin(hours: Hours) -> Schedule {
        Schedule {
            hours,
            zone: TimeZone::get("Europe/Berlin").unwrap(),
        }
    }

    fn week(day: &str) -> Hours {
        Hours::parse([Some(day); 7]).unwrap()
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_day_opens_and_closes_on_the_minute() {
        let s = berlin(week("10:00-18:00"));
        // 2026-12-01 is a Tuesday; Berlin is UTC+1 in winter.
        let before = s.at(ts("2026-12-01T08:59:59Z"));
        assert_eq!(
            before,
            Status {
                open: false,
                next_change: Some(ts("2026-12-01T09:00:00Z"))
            }
        );
        let during = s.at(ts("2026-12-01T09:00:00Z"));
        assert_eq!(
            during,
            Status {
                open: true,
                next_change: Some(ts("2026-12-01T17:00:00Z"))
            }
        );
        let after = s.at(ts("2026-12-01T17:00:00Z"));
        assert_eq!(
            after,
            Status {
                open: false,
                next_change: Some(ts("2026-12-02T09:00:00Z"))
            }
        );
    }

    #[test]
    fn closed_days_are_skipped_to_the_next_opening() {
        let mut days = [Some("10:00-18:00"); 7];
        days[5] = Some("closed"); // saturday
        days[6] = None; // sunday: not written is closed
        let s = berlin(Hours::parse(days).unwrap());
        // Friday 2026-12-04 after closing: next is Monday 2026-12-07 10:00.
        let status = s.at(ts("2026-12-04T18:30:00Z"));
        assert_eq!(
            status,
            Status {
                open: false,
                next_change: Some(ts("2026-12-07T09:00:00Z"))
            }
        );
    }

    #[test]
    fn a_night_runs_past_midnight_into_the_next_day() {
        let mut days = [None; 7];
        days[4] = Some("20:00-02:00"); // friday night
        let s = berlin(Hours::parse(days).unwrap());
        // Saturday 01:30 Berlin is still Friday's opening.
        let status = s.at(ts("2026-12-05T00:30:00Z"));
        assert_eq!(
            status,
            Status {
                open: true,
                next_change: Some(ts("2026-12-05T01:00:00Z"))
            }
        );
        // Saturday 03:00: closed until next Friday 20:00.
        let status = s.at(ts("2026-12-05T02:00:00Z"));
        assert_eq!(status.next_change, Some(ts("2026-12-11T19:00:00Z")));
        assert!(!status.open);
    }

    #[test]
    fn wall_clock_hours_hold_across_daylight_saving_changes() {
        let s = berlin(week("10:00-18:00"));
        // Sunday 2026-03-29 the clocks go forward: 10:00 is then UTC+2.
        let status = s.at(ts("2026-03-28T17:30:00Z"));
        assert_eq!(status.next_change, Some(ts("2026-03-29T08:00:00Z")));
        // Sunday 2026-10-25 back to UTC+1.
        let status = s.at(ts("2026-10-25T07:00:00Z"));
        assert_eq!(status.next_change, Some(ts("2026-10-25T09:00:00Z")));
        // An opening at a time the clocks skip starts right after the gap.
        let s = berlin(week("02:30-04:00"));
        let status = s.at(ts("2026-03-28T23:00:00Z"));
        assert_eq!(status.next_change, Some(ts("2026-03-29T01:00:00Z")));
    }

    #[test]
    fn open_every_hour_of_the_week_never_changes() {
        let s = berlin(week("00:00-24:00"));
        assert_eq!(
            s.at(ts("2026-12-01T12:00:00Z")),
            Status {
                open: true,
                next_change: None
            }
        );
        let s = berlin(week("closed"));
        assert_eq!(
            s.at(ts("2026-12-01T12:00:00Z")),
            Status {
                open: false,
                next_change: None
            }
        );
    }

    #[test]
    fn several_openings_a_day_and_touching_ones_join() {
        let s = berlin(week("10:00-12:00, 12:00-14:00, 19:00-22:00"));
        let status = s.at(ts("2026-12-01T10:00:00Z")); // 11:00 local
        assert_eq!(status.next_change, Some(ts("2026-12-01T13:00:00Z")));
        let status = s.at(ts("2026-12-01T14:00:00Z")); // 15:00 local
        assert_eq!(
            status,
            Status {
                open: false,
                next_change: Some(ts("2026-12-01T18:00:00Z"))
            }
        );
    }

    #[test]
    fn bad_days_are_named_with_what_to_write() {
        let mut days = [None; 7];
        days[0] = Some("10-18");
        days[2] = Some("10:00-25:00");
        days[3] = Some("10:00-10:00");
        days[6] = Some("9:5-10:00");
        let errors = Hours::parse(days).unwrap_err();
        let named: Vec<_> = errors.iter().map(|(day, e)| (*day, e.clone())).collect();
        assert_eq!(
            named,
            vec![
                ("mon", HoursError::NotATime("10".into())),
                ("wed", HoursError::NotATime("25:00".into())),
                ("thu", HoursError::Empty("10:00-10:00".into())),
                ("sun", HoursError::NotATime("9:5".into())),
            ]
        );
        assert!(
            HoursError::NotARange("x".into())
                .to_string()
                .contains("closed")
        );
        assert!(matches!(parse_day("noon"), Err(HoursError::NotARange(_))));
    }
}
