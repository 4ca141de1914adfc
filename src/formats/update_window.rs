//! Update windows (`UPDATE_WINDOW`): the local times in which a service may be touched, as
//! `02:00-05:00`, `Sat,Sun 01:00-06:00` or `Mon-Fri 22:00-02:00; Sat,Sun 01:00-09:00`.
//!
//! Windows are wall-clock times: a window that ends at or before its start wraps midnight
//! and belongs to the day it starts on. An empty text means any time.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, NaiveTime, TimeZone, Weekday};

/// The names of the days, Monday first; a window names them by their first three letters
/// or in full.
const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// One window: the days it may start on and its start and end, in minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    /// Bit `n` is set when the window starts on day `n` (Monday is 0).
    days: u8,
    start: u32,
    end: u32,
}

impl Window {
    /// How long it lasts in wall-clock minutes (past midnight when it wraps).
    fn minutes(&self) -> u32 {
        if self.end > self.start {
            self.end - self.start
        } else {
            self.end + 24 * 60 - self.start
        }
    }

    fn starts_on(&self, day: Weekday) -> bool {
        self.days & (1 << day.num_days_from_monday()) != 0
    }

    /// The start of this window on the day before `at`, on its day and on each of the 7 days
    /// after, where it starts on that day.
    fn starts_from(&self, at: NaiveDateTime) -> impl Iterator<Item = NaiveDateTime> + '_ {
        let start = NaiveTime::from_num_seconds_from_midnight_opt(self.start * 60, 0)
            .unwrap_or(NaiveTime::MIN);
        (-1..=7)
            .map(move |d| (at.date() + Duration::days(d)).and_time(start))
            .filter(|s| self.starts_on(s.weekday()))
    }
}

/// The windows of a service or of the setting; none means any time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Windows {
    text: String,
    windows: Vec<Window>,
}

/// Whether a service may be touched now, and if not, when it may next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State<Tz: TimeZone> {
    /// Inside a window, or there are none.
    Open,
    /// Outside; the next window opens then.
    Closed(DateTime<Tz>),
}

impl Windows {
    /// Parses `text`: windows separated by `;`, each `[DAYS ]HH:MM-HH:MM`, days as
    /// `Mon,Wed` or `Mon-Fri` (English, any case). The error says what is wrong.
    pub fn parse(text: &str) -> Result<Windows, WindowError> {
        let windows = text
            .split(';')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(window)
            .collect::<Result<_, _>>()?;
        Ok(Windows {
            text: text.trim().to_owned(),
            windows,
        })
    }

    /// The text it was parsed from, trimmed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether there are no windows (any time is fine).
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Whether the wall-clock time `now` is inside a window (always, when there are none).
    pub fn is_open(&self, now: NaiveDateTime) -> bool {
        self.windows.is_empty()
            || self.windows.iter().any(|w| {
                w.starts_from(now).any(|start| {
                    start <= now && now < start + Duration::minutes(i64::from(w.minutes()))
                })
            })
    }

    /// The first wall-clock start of a window after `now`, if there are windows.
    pub fn next_open(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        self.windows
            .iter()
            .filter_map(|w| w.starts_from(now).find(|start| *start > now))
            .min()
    }

    /// Whether `now` is inside a window, and if not when the next one opens in `now`'s time
    /// zone. A start that the clock skips (a change to summer time) opens at the first
    /// minute after the gap; one that it passes twice opens the first time.
    pub fn state<Tz: TimeZone>(&self, now: &DateTime<Tz>) -> State<Tz> {
        let local = now.naive_local();
        if self.is_open(local) {
            return State::Open;
        }
        let Some(next) = self.next_open(local) else {
            return State::Open;
        };
        let zone = now.timezone();
        (0..=24 * 60)
            .find_map(|m| {
                zone.from_local_datetime(&(next + Duration::minutes(m)))
                    .earliest()
            })
            .map_or(State::Open, State::Closed)
    }
}

impl std::fmt::Display for Windows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// What is wrong with an UPDATE_WINDOW; each names the part of the text it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A window without `HH:MM-HH:MM`.
    #[error("`{0}`: the times must be HH:MM-HH:MM")]
    NoTimes(String),
    /// A window that ends when it starts.
    #[error("`{0}`: the window ends when it starts")]
    Empty(String),
    /// A word that is no day of the week.
    #[error("`{0}` is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")]
    Day(String),
    /// A time that is no `HH:MM`.
    #[error("`{0}` is not a time of day (HH:MM)")]
    Time(String),
}

/// One window: `[DAYS ]HH:MM-HH:MM`.
fn window(text: &str) -> Result<Window, WindowError> {
    let (days, times) = match text.rsplit_once(char::is_whitespace) {
        Some((days, times)) => (day_set(days.trim())?, times),
        None => (0x7f, text),
    };
    let (start, end) = times
        .split_once('-')
        .ok_or_else(|| WindowError::NoTimes(text.to_owned()))?;
    let (start, end) = (minutes(start, false)?, minutes(end, true)?);
    if start == end {
        return Err(WindowError::Empty(text.to_owned()));
    }
    Ok(Window { days, start, end })
}

/// `Mon,Wed-Fri` as a set of days; a range may wrap the week (`Fri-Mon`).
fn day_set(text: &str) -> Result<u8, WindowError> {
    let mut days = 0u8;
    for part in text.split(',').map(str::trim) {
        let (from, to) = part.split_once('-').unwrap_or((part, part));
        let (from, to) = (day(from)?, day(to)?);
        let mut d = from;
        loop {
            days |= 1 << d;
            if d == to {
                break;
            }
            d = (d + 1) % 7;
        }
    }
    Ok(days)
}

fn day(text: &str) -> Result<u32, WindowError> {
    let lower = text.trim().to_ascii_lowercase();
    DAYS.iter()
        .position(|full| lower == full[..3] || lower == *full)
        .map(|d| d as u32)
        .ok_or_else(|| WindowError::Day(text.to_owned()))
}

/// `HH:MM` in minutes after midnight; `24:00` only as an end.
fn minutes(text: &str, end: bool) -> Result<u32, WindowError> {
    let bad = || WindowError::Time(text.to_owned());
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    match (h, m) {
        (24, 0) if end => Ok(24 * 60),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, MappedLocalTime, NaiveDate, Offset};

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn parses_windows_and_refuses_bad_ones() {
        let ok = [
            ("", 0),
            ("02:00-05:00", 1),
            ("Sat,Sun 01:00-06:00", 1),
            ("mon-fri 22:00-02:00; SAT,Sunday 1:00-09:00;", 2),
            ("Fri-Mon 00:00-24:00", 1),
        ];
        for (text, n) in ok {
            let windows = Windows::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(windows.windows.len(), n, "{text}");
            assert_eq!(windows.as_str(), text.trim());
        }
        assert_eq!(day_set("Fri-Mon"), Ok(0b111_0001));
        let bad = [
            ("02:00", "the times must be HH:MM-HH:MM"),
            ("2-5", "`2` is not a time of day (HH:MM)"),
            ("02:00-25:00", "`25:00` is not a time of day"),
            ("24:00-02:00", "`24:00` is not a time of day"),
            ("02:60-03:00", "`02:60` is not a time of day"),
            ("Sa 01:00-02:00", "`Sa` is not a day"),
            ("Satur 01:00-02:00", "`Satur` is not a day"),
            ("Sat Sun 01:00-02:00", "`Sat Sun` is not a day"),
            ("03:00-03:00", "the window ends when it starts"),
        ];
        for (text, message) in bad {
            let error = Windows::parse(text).expect_err(text).to_string();
            assert!(error.contains(message), "{text}: {error}");
        }
    }

    #[test]
    fn open_and_next_opening_table() {
        // 2026-05-02 is a Saturday.
        let cases = [
            ("02:00-05:00", "2026-05-02 03:00", None),
            ("02:00-05:00", "2026-05-02 05:00", Some("2026-05-03 02:00")),
            ("02:00-05:00", "2026-05-02 01:59", Some("2026-05-02 02:00")),
            ("22:00-02:00", "2026-05-02 01:30", None),
            ("22:00-02:00", "2026-05-02 23:00", None),
            ("22:00-02:00", "2026-05-02 02:00", Some("2026-05-02 22:00")),
            // The day is the day the window starts: Friday night runs into Saturday.
            ("Fri 22:00-02:00", "2026-05-02 01:00", None),
            (
                "Fri 22:00-02:00",
                "2026-05-02 22:30",
                Some("2026-05-08 22:00"),
            ),
            (
                "Sat,Sun 01:00-06:00",
                "2026-05-01 12:00",
                Some("2026-05-02 01:00"),
            ),
            (
                "Sat,Sun 01:00-06:00",
                "2026-05-03 07:00",
                Some("2026-05-09 01:00"),
            ),
            (
                "Mon-Fri 09:00-10:00; Sat 20:00-21:00",
                "2026-05-02 12:00",
                Some("2026-05-02 20:00"),
            ),
            (
                "Mon-Fri 09:00-10:00; Sat 20:00-21:00",
                "2026-05-02 21:00",
                Some("2026-05-04 09:00"),
            ),
            ("Sun 23:00-24:00", "2026-05-03 23:59", None),
            ("Sat,Sun 00:00-24:00", "2026-05-03 23:59", None),
            (
                "Sat,Sun 00:00-24:00",
                "2026-05-04 00:00",
                Some("2026-05-09 00:00"),
            ),
            ("", "2026-05-02 12:00", None),
        ];
        for (text, now, next) in cases {
            let windows = Windows::parse(text).unwrap();
            let now = at(now);
            assert_eq!(windows.is_open(now), next.is_none(), "{text} at {now}");
            if let Some(next) = next {
                assert_eq!(windows.next_open(now), Some(at(next)), "{text} at {now}");
            }
        }
    }

    /// Central European time in 2026: summer time from 29 March 01:00 UTC to 25 October
    /// 01:00 UTC, so that the change days can be tested without the system's zone files.
    #[derive(Debug, Clone, Copy)]
    struct Berlin2026;

    impl Berlin2026 {
        fn offset(utc: &NaiveDateTime) -> FixedOffset {
            let summer = at("2026-03-29 01:00") <= *utc && *utc < at("2026-10-25 01:00");
            FixedOffset::east_opt(if summer { 7200 } else { 3600 }).unwrap()
        }
    }

    impl TimeZone for Berlin2026 {
        type Offset = FixedOffset;
        fn from_offset(_: &FixedOffset) -> Self {
            Berlin2026
        }
        fn offset_from_local_date(&self, _: &NaiveDate) -> MappedLocalTime<FixedOffset> {
            unimplemented!("not used")
        }
        fn offset_from_local_datetime(
            &self,
            local: &NaiveDateTime,
        ) -> MappedLocalTime<FixedOffset> {
            let fits: Vec<FixedOffset> = [7200, 3600]
                .map(|s| FixedOffset::east_opt(s).unwrap())
                .into_iter()
                .filter(|o| {
                    Self::offset(&(*local - Duration::seconds(o.fix().local_minus_utc().into())))
                        == *o
                })
                .collect();
            match fits[..] {
                [one] => MappedLocalTime::Single(one),
                [early, late] => MappedLocalTime::Ambiguous(early, late),
                _ => MappedLocalTime::None,
            }
        }
        fn offset_from_utc_date(&self, _: &NaiveDate) -> FixedOffset {
            unimplemented!("not used")
        }
        fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
            Self::offset(utc)
        }
    }

    #[test]
    fn next_opening_on_the_days_the_clock_changes() {
        let zoned = |local: &str| {
            Berlin2026
                .from_local_datetime(&at(local))
                .earliest()
                .unwrap()
        };
        let opens = |text: &str, now: &str| match Windows::parse(text).unwrap().state(&zoned(now)) {
            State::Open => "open".to_owned(),
            State::Closed(t) => t.to_rfc3339(),
        };
        // 29 March: 02:00 to 03:00 does not exist; the window opens when the clock shows 03:00.
        assert_eq!(
            opens("02:30-04:00", "2026-03-29 01:00"),
            "2026-03-29T03:00:00+02:00"
        );
        assert_eq!(opens("02:30-04:00", "2026-03-29 03:30"), "open");
        // A window after the change opens at its wall-clock time, now in summer time.
        assert_eq!(
            opens("05:00-06:00", "2026-03-29 01:00"),
            "2026-03-29T05:00:00+02:00"
        );
        // 25 October: 02:30 comes twice; the window opens the first time.
        assert_eq!(
            opens("02:30-04:00", "2026-10-25 01:00"),
            "2026-10-25T02:30:00+02:00"
        );
        assert_eq!(
            opens("Sun 05:00-06:00", "2026-10-24 12:00"),
            "2026-10-25T05:00:00+01:00"
        );
    }
}
