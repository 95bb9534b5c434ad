//! CF time coordinates (CF-1.8 §4.4): calendars, `"<unit> since <date>"` units, and the conversion
//! between numeric time values and calendar dates.
//!
//! Every time variable that contrada reads or writes goes through this module, so its results must
//! agree with what xarray and netCDF4-python show for the same file; those use Python's `cftime`,
//! whose behaviour is the reference here (`tests/fixtures/cftime_decoded.json` is made by it). The
//! module is hand-written because the only Rust port, `cftime-rs`, is AGPL-3.0, which this
//! MIT/Apache-2.0 crate cannot take on. `chrono` has no Julian, mixed or idealised calendars, and
//! it covers only ±262 143 years, so the date arithmetic is done here on integer day numbers; chrono
//! serves as an independent check of the proleptic Gregorian arithmetic in the tests, and for
//! [`CfDateTime::to_naive`].
//!
//! Conventions, as in cftime's defaults (which follow CF):
//! - `standard`/`gregorian` is the mixed calendar: Julian up to 1582-10-04, Gregorian from
//!   1582-10-15; the ten days between do not exist.
//! - `standard` and `julian` have no year zero: year -1 (1 BC) is followed by year 1, and -1 is a
//!   leap year. `proleptic_gregorian` and the idealised calendars (`noleap`, `all_leap`,
//!   `360_day`) count years astronomically, with a year 0.
//! - Dates are decoded to microsecond resolution, as cftime does.

use std::fmt;
use std::str::FromStr;

const SECONDS_PER_DAY: f64 = 86_400.0;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A CF calendar (the `calendar` attribute of a time variable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Calendar {
    /// `standard` (alias `gregorian`): Julian before 1582-10-15, Gregorian from then on.
    #[serde(rename = "standard")]
    Standard,
    /// `proleptic_gregorian`: the Gregorian calendar extended to all years.
    #[serde(rename = "proleptic_gregorian")]
    ProlepticGregorian,
    /// `julian`: every fourth year is a leap year.
    #[serde(rename = "julian")]
    Julian,
    /// `noleap` (alias `365_day`): every year has 365 days.
    #[serde(rename = "noleap")]
    NoLeap,
    /// `all_leap` (alias `366_day`): every year has 366 days.
    #[serde(rename = "all_leap")]
    AllLeap,
    /// `360_day`: twelve months of 30 days.
    #[serde(rename = "360_day")]
    Day360,
}

/// Every name [`Calendar::from_str`] accepts, as listed in its error message.
const CALENDAR_NAMES: &str = "standard, gregorian, proleptic_gregorian, julian, noleap, 365_day, all_leap, 366_day, 360_day";

impl FromStr for Calendar {
    type Err = String;

    /// Parses a CF calendar name, ignoring case and surrounding blanks.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standard" | "gregorian" => Ok(Calendar::Standard),
            "proleptic_gregorian" => Ok(Calendar::ProlepticGregorian),
            "julian" => Ok(Calendar::Julian),
            "noleap" | "365_day" => Ok(Calendar::NoLeap),
            "all_leap" | "366_day" => Ok(Calendar::AllLeap),
            "360_day" => Ok(Calendar::Day360),
            _ => Err(format!("unknown calendar {s:?}; expected one of: {CALENDAR_NAMES}")),
        }
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Calendar {
    /// All calendars, for tests and for listing.
    pub const ALL: [Calendar; 6] = [Calendar::Standard, Calendar::ProlepticGregorian, Calendar::Julian, Calendar::NoLeap, Calendar::AllLeap, Calendar::Day360];

    /// The canonical CF name, as written to the `calendar` attribute.
    pub fn name(&self) -> &'static str {
        match self {
            Calendar::Standard => "standard",
            Calendar::ProlepticGregorian => "proleptic_gregorian",
            Calendar::Julian => "julian",
            Calendar::NoLeap => "noleap",
            Calendar::AllLeap => "all_leap",
            Calendar::Day360 => "360_day",
        }
    }

    /// Whether the calendar has a year 0. `standard` and `julian` use historical year numbering
    /// (1 BC is year -1), the others astronomical numbering; these are cftime's and CF's defaults.
    pub fn has_year_zero(&self) -> bool {
        !matches!(self, Calendar::Standard | Calendar::Julian)
    }

    /// Whether `year` has a 29 February (always false for `360_day`, whose February has 30 days).
    pub fn is_leap_year(&self, year: i32) -> bool {
        match self {
            Calendar::ProlepticGregorian => gregorian_leap(year as i64),
            Calendar::Julian => julian_leap(astronomical_year(year)),
            // 1582 itself is a common year under both rules, so the switch year needs no special case.
            Calendar::Standard if year <= 1582 => julian_leap(astronomical_year(year)),
            Calendar::Standard => gregorian_leap(year as i64),
            Calendar::NoLeap | Calendar::Day360 => false,
            Calendar::AllLeap => true,
        }
    }

    /// Number of days in `month` (1–12) of `year`; 0 for a month outside 1–12. October 1582 of the
    /// `standard` calendar is counted as 31 days although days 5–14 do not exist (see
    /// [`Calendar::is_valid_date`]).
    pub fn days_in_month(&self, year: i32, month: u32) -> u32 {
        if *self == Calendar::Day360 {
            return if (1..=12).contains(&month) { 30 } else { 0 };
        }
        match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if self.is_leap_year(year) => 29,
            2 => 28,
            _ => 0,
        }
    }

    /// Whether the date exists in this calendar: a valid month and day, no year 0 where the
    /// calendar has none, and not in the 1582-10-05..=1582-10-14 gap of `standard`.
    pub fn is_valid_date(&self, year: i32, month: u32, day: u32) -> bool {
        if year == 0 && !self.has_year_zero() {
            return false;
        }
        if day == 0 || day > self.days_in_month(year, month) {
            return false;
        }
        !(*self == Calendar::Standard && year == 1582 && month == 10 && (5..=14).contains(&day))
    }
}

/// A date and time in some CF calendar. It does not carry its calendar: the same fields mean
/// different days in different calendars, so always pair it with the [`TimeUnits`] it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CfDateTime {
    /// Year; negative years are BC/BCE (see [`Calendar::has_year_zero`] for how they count).
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Day of month, from 1.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Seconds, 0 ≤ second < 60, with a fractional part.
    pub second: f64,
}

impl CfDateTime {
    /// Midnight at the start of the given day.
    pub fn date(year: i32, month: u32, day: u32) -> Self {
        CfDateTime { year, month, day, hour: 0, minute: 0, second: 0.0 }
    }

    /// The same fields as a chrono date-time, or `None` when they are not a valid proleptic
    /// Gregorian date-time (e.g. 30 February) or lie outside chrono's range. Note that this
    /// reinterprets the fields: it is the same instant only for `proleptic_gregorian` dates, and
    /// for `standard` dates from 1582-10-15 on (and from year 1 on, the same year numbering).
    pub fn to_naive(&self) -> Option<chrono::NaiveDateTime> {
        let date = chrono::NaiveDate::from_ymd_opt(self.year, self.month, self.day)?;
        if !(0.0..60.0).contains(&self.second) {
            return None;
        }
        let whole = self.second.floor();
        // Clamp, so a second like 59.9999999996 cannot round up into an invalid 1e9 nanoseconds.
        let nanos = (((self.second - whole) * 1e9).round() as u32).min(999_999_999);
        date.and_hms_nano_opt(self.hour, self.minute, whole as u32, nanos)
    }

    /// Seconds since the start of the day.
    fn seconds_of_day(&self) -> f64 {
        self.hour as f64 * 3600.0 + self.minute as f64 * 60.0 + self.second
    }
}

impl fmt::Display for CfDateTime {
    /// `YYYY-MM-DD HH:MM:SS`, with a fractional part only when the seconds are not within half a
    /// microsecond (the resolution of decoding) of a whole number, e.g. `12.5` or `05.000123`. A
    /// negative year gets a minus sign: `-0001-12-31 00:00:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.year < 0 { "-" } else { "" };
        write!(f, "{sign}{:04}-{:02}-{:02} {:02}:{:02}:", self.year.unsigned_abs(), self.month, self.day, self.hour, self.minute)?;
        // Format from whole microseconds, so the text is exact at that resolution. Clamped so that
        // a second just under 60 cannot print as "60": there is no carrying into the minute here.
        let micros = ((self.second * 1e6).round() as i64).clamp(0, 59_999_999);
        let (whole, frac) = (micros / 1_000_000, micros % 1_000_000);
        if frac == 0 {
            write!(f, "{whole:02}")
        } else {
            let frac = format!("{frac:06}");
            write!(f, "{whole:02}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// A parsed CF time `units` attribute: `<unit> since <reference date>` in a calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeUnits {
    /// Length of one unit in seconds (86400 for days).
    pub unit_seconds: f64,
    /// The reference date-time, in UTC (any time-zone offset in the attribute has been applied).
    pub epoch: CfDateTime,
    /// The calendar both the epoch and the values are in.
    pub calendar: Calendar,
}

impl TimeUnits {
    /// Parses `"<unit> since <date>[ <time>][ <tz>]"`, e.g. `"days since 1950-01-01"`,
    /// `"hours since 2000-1-1 00:00:00"`, `"seconds since 1970-01-01T00:00:00Z"`,
    /// `"minutes since 2010-06-15 12:30"`.
    ///
    /// Units (case-insensitive): seconds/second/secs/sec/s, minutes/minute/mins/min,
    /// hours/hour/hrs/hr/h, days/day/d, and also milliseconds/msecs/msec/ms and microseconds, which
    /// cftime accepts too. Months and years are refused: their length is not a calendar month or
    /// year (UDUNITS defines them from the tropical year), which is why CF advises against them.
    ///
    /// The date is `Y-M-D` (year may be negative), the time `H`, `H:M` or `H:M:S[.fff]`, joined by a
    /// blank or `T`. A time zone may follow, attached or after a blank: `Z`, `UTC`, `GMT`, or an
    /// offset `±HH:MM`, `±HHMM`, `±HH`. The epoch is stored in UTC, so an offset shifts it
    /// (`12:00 +05:00` is 07:00), as cftime does. The date must exist in `calendar`.
    pub fn parse(units: &str, calendar: Calendar) -> Result<Self, String> {
        let expected = "expected \"<unit> since <date>[ <time>][ <time zone>]\", \
                        e.g. \"days since 1950-01-01 00:00:00\"";
        let (unit, rest) = split_first_word(units);
        let (since, reference) = split_first_word(rest);
        if !since.eq_ignore_ascii_case("since") || reference.is_empty() {
            return Err(format!("time units {units:?}: {expected}"));
        }
        let unit_seconds = unit_seconds(unit).map_err(|e| format!("time units {units:?}: {e}"))?;
        let (local, offset_seconds) = parse_reference(reference).map_err(|e| format!("time units {units:?}: {e}; {expected}"))?;
        if !calendar.is_valid_date(local.year, local.month, local.day) {
            return Err(format!(
                "time units {units:?}: the reference date {:04}-{:02}-{:02} does not exist in the {} calendar",
                local.year,
                local.month,
                local.day,
                calendar.name()
            ));
        }
        // Store the epoch in UTC: local time minus the offset from UTC.
        let epoch = if offset_seconds == 0 {
            local
        } else {
            let (days, sod) = to_days_and_seconds(calendar, &local);
            from_days_and_seconds(calendar, days, sod - offset_seconds as f64)
        };
        Ok(TimeUnits { unit_seconds, epoch, calendar })
    }

    /// The date-time `value` units after the epoch.
    ///
    /// # Panics
    /// If `value` is not finite or is too large to decode (see [`TimeUnits::try_decode`]); mask
    /// fill values before decoding.
    pub fn decode(&self, value: f64) -> CfDateTime {
        self.try_decode(value).unwrap_or_else(|| panic!("cannot decode time value {value} with units of {} s", self.unit_seconds))
    }

    /// Like [`TimeUnits::decode`], but `None` for a value that is not finite or whose offset from
    /// the epoch exceeds 2^53 seconds (about 285 million years), beyond which seconds are no longer
    /// exact in an f64.
    pub fn try_decode(&self, value: f64) -> Option<CfDateTime> {
        // value * unit_seconds as one f64 loses sub-millisecond precision once it nears 1e11 s
        // (≈ 1e6 days). So the whole units are converted separately: for whole-second units their
        // product is an exact integer, split exactly into days and seconds; only the fractional
        // unit, which is small, goes through f64 scaling.
        if !self.decodable(value) {
            return None;
        }
        let whole = value.trunc();
        let whole_seconds = whole * self.unit_seconds;
        let floor_seconds = whole_seconds.floor();
        // Both terms are below one unit; the first is non-zero only for sub-second units.
        let small_seconds = (whole_seconds - floor_seconds) + (value - whole) * self.unit_seconds;
        let floor_seconds = floor_seconds as i64;
        let (epoch_days, epoch_sod) = to_days_and_seconds(self.calendar, &self.epoch);
        let days = epoch_days + floor_seconds.div_euclid(86_400);
        let sod = epoch_sod + floor_seconds.rem_euclid(86_400) as f64 + small_seconds;
        Some(from_days_and_seconds(self.calendar, days, sod))
    }

    /// The value, in units since the epoch, of `t` (inverse of [`TimeUnits::decode`]). `t` is read
    /// in this calendar; out-of-range fields are rolled over arithmetically (see [`day_number`]).
    pub fn encode(&self, t: &CfDateTime) -> f64 {
        let (t_days, t_sod) = to_days_and_seconds(self.calendar, t);
        let (e_days, e_sod) = to_days_and_seconds(self.calendar, &self.epoch);
        // Whole days and the seconds within them are scaled separately, so a large day count
        // (exact as an integer) does not swamp the seconds before the division.
        let u = self.unit_seconds;
        (t_days - e_days) as f64 * (SECONDS_PER_DAY / u) + (t_sod - e_sod) / u
    }
}

impl TimeUnits {
    /// Whether [`TimeUnits::try_decode`] can represent `value`: finite, and within 2^53 seconds
    /// (about 285 million years) of the epoch, so that whole seconds stay exact.
    pub fn decodable(&self, value: f64) -> bool {
        let whole_seconds = value.trunc() * self.unit_seconds;
        whole_seconds.is_finite() && whole_seconds.abs() <= 2f64.powi(53)
    }

    /// The value in `to`'s units of the instant `value` denotes in these units, read as the same
    /// calendar date and time of day; `None` when that date does not exist in `to`'s calendar
    /// (29 February in `noleap`, 30 February outside `360_day`) or `value` cannot be decoded.
    /// Pairing files of different calendars by calendar date is how cftime-based tools compare
    /// them: model days carry their calendar label, not a physical instant.
    pub fn recode(&self, value: f64, to: &TimeUnits) -> Option<f64> {
        if self == to {
            // Undecodable values are missing too: the netCDF default fill (9.97e36) of a variable
            // without a _FillValue attribute is one, and it must not pass for a time.
            return self.decodable(value).then_some(value);
        }
        let t = self.try_decode(value)?;
        to.calendar.is_valid_date(t.year, t.month, t.day).then(|| to.encode(&t))
    }
}

/// Parses a duration `"<number> <unit>"` (e.g. `"6 hours"`, `"1.5 days"`, `"30 min"`, or `"0"`)
/// into seconds, with the units [`TimeUnits::parse`] accepts. Negative durations are refused.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let (number, unit) = split_first_word(text);
    let value: f64 = number.parse().map_err(|_| format!("duration {text:?}: expected \"<number> <unit>\", e.g. \"6 hours\" or \"1.5 days\""))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("duration {text:?}: expected a finite, non-negative number"));
    }
    if unit.is_empty() {
        return if value == 0.0 { Ok(0.0) } else { Err(format!("duration {text:?}: a unit is needed, e.g. \"{value} hours\"")) };
    }
    Ok(value * unit_seconds(unit).map_err(|e| format!("duration {text:?}: {e}"))?)
}

/// The first blank-separated word of `text` and the rest, both without surrounding blanks.
fn split_first_word(text: &str) -> (&str, &str) {
    let text = text.trim();
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim_start()),
        None => (text, ""),
    }
}

/// Seconds in one unit of a CF time unit name (case-insensitive).
fn unit_seconds(unit: &str) -> Result<f64, String> {
    match unit.to_ascii_lowercase().as_str() {
        "microseconds" | "microsecond" => Ok(1e-6),
        "milliseconds" | "millisecond" | "msecs" | "msec" | "ms" => Ok(1e-3),
        "seconds" | "second" | "secs" | "sec" | "s" => Ok(1.0),
        "minutes" | "minute" | "mins" | "min" => Ok(60.0),
        "hours" | "hour" | "hrs" | "hr" | "h" => Ok(3600.0),
        "days" | "day" | "d" => Ok(SECONDS_PER_DAY),
        "months" | "month" | "years" | "year" | "yr" | "common_years" | "common_year" => Err(format!(
            "unit {unit:?} is not supported: CF discourages months and years as time units because \
             UDUNITS defines them from the tropical year (a month is 30.436875 days), not as calendar \
             months or years; use days, hours, minutes or seconds"
        )),
        _ => Err(format!(
            "unknown time unit {unit:?}; expected seconds, minutes, hours or days \
             (or s/sec/secs, min/mins, h/hr/hrs, d, milliseconds/ms, microseconds)"
        )),
    }
}

/// Parses the reference part of a units string: the local date-time and its offset from UTC in
/// seconds (positive east of Greenwich).
fn parse_reference(text: &str) -> Result<(CfDateTime, i64), String> {
    // The date ends at the first blank or 'T' (a 'T' cannot occur inside a date).
    let date_end = text.find(|c: char| c.is_whitespace() || c == 'T' || c == 't').unwrap_or(text.len());
    let (year, month, day) = parse_date(&text[..date_end])?;
    let mut rest = text[date_end..].trim_start();
    if let Some(r) = rest.strip_prefix(['T', 't']) {
        rest = r;
    }
    let mut t = CfDateTime::date(year, month, day);
    let mut offset = 0;
    if rest.starts_with(|c: char| c.is_ascii_digit()) {
        // The time runs up to a blank or to an attached zone designator ("00:00:00Z", "12:00+05:00").
        let time_end = rest.find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.')).unwrap_or(rest.len());
        let (hour, minute, second) = parse_time(&rest[..time_end])?;
        t.hour = hour;
        t.minute = minute;
        t.second = second;
        rest = rest[time_end..].trim_start();
    }
    if !rest.is_empty() {
        offset = parse_zone(rest)?;
    }
    Ok((t, offset))
}

fn parse_date(text: &str) -> Result<(i32, u32, u32), String> {
    let bad = || format!("cannot read the date {text:?} (expected year-month-day, e.g. 1950-01-01)");
    let (negative, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let fields: Vec<&str> = body.split('-').collect();
    let [y, m, d] = fields[..] else {
        return Err(bad());
    };
    let year: i32 = parse_digits(y).ok_or_else(bad)?;
    let month: u32 = parse_digits(m).ok_or_else(bad)?;
    let day: u32 = parse_digits(d).ok_or_else(bad)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    Ok((if negative { -year } else { year }, month, day))
}

/// Parses a non-empty run of ASCII digits (no sign, unlike `str::parse`).
fn parse_digits<T: FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_time(text: &str) -> Result<(u32, u32, f64), String> {
    let bad = || format!("cannot read the time {text:?} (expected hour[:minute[:second]], e.g. 00:00:00)");
    let fields: Vec<&str> = text.split(':').collect();
    if fields.len() > 3 {
        return Err(bad());
    }
    let hour: u32 = parse_digits(fields[0]).ok_or_else(bad)?;
    let minute: u32 = match fields.get(1) {
        Some(m) => parse_digits(m).ok_or_else(bad)?,
        None => 0,
    };
    let second: f64 = match fields.get(2) {
        Some(s) => {
            let (int, frac) = s.split_once('.').unwrap_or((s, ""));
            if parse_digits::<u32>(int).is_none() || !(frac.is_empty() || parse_digits::<u64>(frac).is_some()) {
                return Err(bad());
            }
            s.parse().map_err(|_| bad())?
        }
        None => 0.0,
    };
    if hour > 23 || minute > 59 || !(0.0..60.0).contains(&second) {
        return Err(bad());
    }
    Ok((hour, minute, second))
}

/// Parses a time-zone designator into seconds east of UTC.
fn parse_zone(text: &str) -> Result<i64, String> {
    let bad = || format!("cannot read the time zone {text:?} (expected Z, UTC, GMT or an offset like +05:30)");
    let text = text.trim();
    if ["z", "utc", "gmt"].contains(&text.to_ascii_lowercase().as_str()) {
        return Ok(0);
    }
    // Note "UTC+05:00" is refused on purpose: in POSIX TZ syntax it means five hours *behind* UTC,
    // and cftime silently ignores it; neither reading is safe to guess.
    let (sign, body) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = match body.split_once(':') {
        Some((h, m)) => (h, m),
        None if body.len() == 4 => body.split_at(2),
        None => (body, "0"),
    };
    let hours: i64 = parse_digits(h).ok_or_else(bad)?;
    let minutes: i64 = parse_digits(m).ok_or_else(bad)?;
    if h.len() > 2 || hours > 23 || minutes > 59 {
        return Err(bad());
    }
    Ok(sign * (hours * 3600 + minutes * 60))
}

/// The day number (see [`day_number`]) and seconds of day of a date-time.
fn to_days_and_seconds(cal: Calendar, t: &CfDateTime) -> (i64, f64) {
    (day_number(cal, t.year, t.month, t.day), t.seconds_of_day())
}

/// The date-time `seconds` after the start of day number `days`; `seconds` may be negative or
/// exceed a day. Rounds to whole microseconds, as cftime does, so that e.g. 0.1 days decodes to
/// 02:24:00 rather than 02:23:59.99999999.
fn from_days_and_seconds(cal: Calendar, days: i64, seconds: f64) -> CfDateTime {
    // `seconds` is at most a few days here, so microseconds fit an i64 with room to spare.
    let micros = (seconds * 1e6).round() as i64;
    let days = days + micros.div_euclid(MICROS_PER_DAY);
    let micros = micros.rem_euclid(MICROS_PER_DAY);
    let (year, month, day) = from_day_number(cal, days);
    let minutes = micros / 60_000_000;
    CfDateTime { year, month, day, hour: (minutes / 60) as u32, minute: (minutes % 60) as u32, second: (micros % 60_000_000) as f64 / 1e6 }
}

/// Days from 0001-01-01 of the calendar (day 0) to the given date, which may be negative.
///
/// Years are numbered as the calendar numbers them ([`Calendar::has_year_zero`]); in `standard` and
/// `julian`, year 0 does not exist and is read as year -1. The date should be valid
/// ([`Calendar::is_valid_date`]); other dates are rolled over arithmetically rather than refused:
/// a month outside 1–12 moves into the neighbouring years, a day past the month's end into the
/// following month (30 February is 2 March in a common Gregorian year), and a date in the 1582 gap
/// of `standard` is read as a Julian date.
pub fn day_number(cal: Calendar, y: i32, m: u32, d: u32) -> i64 {
    // Roll the month into 1..=12 so that the formulas below see a real month.
    let months = m as i64 - 1;
    let month = months.rem_euclid(12) + 1;
    let d = d as i64;
    let year = match cal {
        Calendar::Standard | Calendar::Julian => astronomical_year(y),
        _ => y as i64,
    } + months.div_euclid(12);
    match cal {
        Calendar::ProlepticGregorian => gregorian_to_jdn(year, month, d) - GREGORIAN_JDN_0001,
        Calendar::Julian => julian_to_jdn(year, month, d) - JULIAN_JDN_0001,
        Calendar::Standard => {
            let jdn = if (year, month, d) >= (1582, 10, 15) { gregorian_to_jdn(year, month, d) } else { julian_to_jdn(year, month, d) };
            jdn - JULIAN_JDN_0001
        }
        Calendar::NoLeap => (year - 1) * 365 + CUMULATIVE_DAYS[0][month as usize - 1] + d - 1,
        Calendar::AllLeap => (year - 1) * 366 + CUMULATIVE_DAYS[1][month as usize - 1] + d - 1,
        Calendar::Day360 => (year - 1) * 360 + (month - 1) * 30 + d - 1,
    }
}

/// The date of day number `n` (inverse of [`day_number`] for valid dates).
///
/// # Panics
/// If the year does not fit an `i32` (|n| beyond about 7.8e11 days).
pub fn from_day_number(cal: Calendar, n: i64) -> (i32, u32, u32) {
    let (year, month, day) = match cal {
        Calendar::ProlepticGregorian => jdn_to_gregorian(n + GREGORIAN_JDN_0001),
        Calendar::Julian => jdn_to_julian(n + JULIAN_JDN_0001),
        Calendar::Standard => {
            let jdn = n + JULIAN_JDN_0001;
            if jdn >= GREGORIAN_REFORM_JDN { jdn_to_gregorian(jdn) } else { jdn_to_julian(jdn) }
        }
        Calendar::NoLeap => fixed_length_year(n, 365, &CUMULATIVE_DAYS[0]),
        Calendar::AllLeap => fixed_length_year(n, 366, &CUMULATIVE_DAYS[1]),
        Calendar::Day360 => (n.div_euclid(360) + 1, n.rem_euclid(360) / 30 + 1, n.rem_euclid(30) + 1),
    };
    let year = match cal {
        Calendar::Standard | Calendar::Julian if year <= 0 => year - 1,
        _ => year,
    };
    let year = i32::try_from(year).unwrap_or_else(|_| panic!("day number {n} is beyond the years an i32 holds"));
    (year, month as u32, day as u32)
}

/// Days before each month in a 365-day and in a 366-day year.
const CUMULATIVE_DAYS: [[i64; 12]; 2] = [[0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335]];

fn fixed_length_year(n: i64, year_length: i64, cumulative: &[i64; 12]) -> (i64, i64, i64) {
    let day_of_year = n.rem_euclid(year_length);
    let month = cumulative.iter().rposition(|&c| c <= day_of_year).unwrap_or(0);
    (n.div_euclid(year_length) + 1, month as i64 + 1, day_of_year - cumulative[month] + 1)
}

// The Julian and Gregorian calendars are related through the Julian Day Number (JDN): the count of
// days from Julian -4712-01-01 (astronomical years), the usual astronomical day count.

/// JDN of 1582-10-15 (Gregorian), the first day of the Gregorian part of `standard`.
const GREGORIAN_REFORM_JDN: i64 = 2_299_161;
/// JDN of 0001-01-01 in the Julian calendar, the origin of `standard` and `julian` day numbers.
const JULIAN_JDN_0001: i64 = 1_721_424;
/// JDN of 0001-01-01 in the proleptic Gregorian calendar.
const GREGORIAN_JDN_0001: i64 = 1_721_426;

/// Historical year (no year 0; -1 is 1 BC) to astronomical year (0 is 1 BC).
fn astronomical_year(y: i32) -> i64 {
    if y < 0 { y as i64 + 1 } else { y as i64 }
}

fn gregorian_leap(y: i64) -> bool {
    y.rem_euclid(4) == 0 && (y.rem_euclid(100) != 0 || y.rem_euclid(400) == 0)
}

fn julian_leap(y: i64) -> bool {
    y.rem_euclid(4) == 0
}

// Both calendars below are counted in years that start on 1 March, so that the leap day is the
// last day of the year and the month lengths March..January repeat in a 153-day, 5-month pattern
// (the algorithm of H. Hinnant, "chrono-Compatible Low-Level Date Algorithms"). Astronomical years.

/// Day of the March-based year (0 = 1 March) of a month and day.
fn day_of_march_year(month: i64, day: i64) -> i64 {
    let march_month = (month + 9) % 12; // March = 0 .. February = 11
    (153 * march_month + 2) / 5 + day - 1
}

/// Month and day of a day of the March-based year.
fn month_day_of_march_year(doy: i64) -> (i64, i64) {
    let march_month = (5 * doy + 2) / 153;
    let day = doy - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 { march_month + 3 } else { march_month - 9 };
    (month, day)
}

fn gregorian_to_jdn(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_march_year(month, day);
    // 1_721_120 is the JDN of 0000-03-01 in the proleptic Gregorian calendar.
    era * 146_097 + day_of_era + 1_721_120
}

fn jdn_to_gregorian(jdn: i64) -> (i64, i64, i64) {
    let z = jdn - 1_721_120;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let doy = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let (month, day) = month_day_of_march_year(doy);
    let year = era * 400 + year_of_era + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

fn julian_to_jdn(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(4);
    let year_of_era = y - era * 4;
    // 1_721_118 is the JDN of 0000-03-01 in the Julian calendar.
    era * 1461 + year_of_era * 365 + day_of_march_year(month, day) + 1_721_118
}

fn jdn_to_julian(jdn: i64) -> (i64, i64, i64) {
    let z = jdn - 1_721_118;
    let era = z.div_euclid(1461);
    let day_of_era = z - era * 1461;
    // The fourth year of an era has the extra day (day 1460), which still belongs to year 3.
    let year_of_era = (day_of_era - day_of_era / 1460) / 365;
    let (month, day) = month_day_of_march_year(day_of_era - 365 * year_of_era);
    let year = era * 4 + year_of_era + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(text: &str, cal: Calendar) -> TimeUnits {
        TimeUnits::parse(text, cal).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn calendar_aliases_parse() {
        let cases = [
            ("standard", Calendar::Standard),
            ("gregorian", Calendar::Standard),
            ("Gregorian", Calendar::Standard),
            ("proleptic_gregorian", Calendar::ProlepticGregorian),
            ("julian", Calendar::Julian),
            ("noleap", Calendar::NoLeap),
            ("365_day", Calendar::NoLeap),
            ("all_leap", Calendar::AllLeap),
            ("366_day", Calendar::AllLeap),
            ("360_day", Calendar::Day360),
            (" NOLEAP ", Calendar::NoLeap),
        ];
        for (name, cal) in cases {
            assert_eq!(name.parse::<Calendar>(), Ok(cal), "{name}");
        }
        for cal in Calendar::ALL {
            assert_eq!(cal.name().parse::<Calendar>(), Ok(cal));
        }
    }

    #[test]
    fn unknown_calendar_lists_allowed_names() {
        let err = "mayan".parse::<Calendar>().unwrap_err();
        assert!(err.contains("mayan"), "{err}");
        for name in ["standard", "gregorian", "proleptic_gregorian", "julian", "noleap", "365_day", "all_leap", "366_day", "360_day"] {
            assert!(err.contains(name), "{err} lacks {name}");
        }
        assert!("none".parse::<Calendar>().is_err());
    }

    #[test]
    fn serializes_as_cf_name() {
        for cal in Calendar::ALL {
            assert_eq!(serde_json::to_string(&cal).unwrap(), format!("\"{}\"", cal.name()));
        }
    }

    #[test]
    fn parses_unit_aliases() {
        for (unit, seconds) in [
            ("seconds", 1.0),
            ("second", 1.0),
            ("secs", 1.0),
            ("sec", 1.0),
            ("s", 1.0),
            ("SECONDS", 1.0),
            ("minutes", 60.0),
            ("minute", 60.0),
            ("min", 60.0),
            ("mins", 60.0),
            ("hours", 3600.0),
            ("hour", 3600.0),
            ("hrs", 3600.0),
            ("hr", 3600.0),
            ("h", 3600.0),
            ("Hours", 3600.0),
            ("days", 86400.0),
            ("day", 86400.0),
            ("d", 86400.0),
            ("DAYS", 86400.0),
            ("milliseconds", 1e-3),
            ("ms", 1e-3),
        ] {
            let u = units(&format!("{unit} since 2000-01-01"), Calendar::Standard);
            assert_eq!(u.unit_seconds, seconds, "{unit}");
        }
    }

    #[test]
    fn parses_reference_forms() {
        let cal = Calendar::Standard;
        let at = |h, mi, s| CfDateTime { hour: h, minute: mi, second: s, ..CfDateTime::date(2000, 1, 1) };
        assert_eq!(units("days since 2000-01-01", cal).epoch, CfDateTime::date(2000, 1, 1));
        assert_eq!(units("hours since 2000-1-1 00:00:00", cal).epoch, at(0, 0, 0.0));
        assert_eq!(units("seconds since 2000-01-01T06:07:08Z", cal).epoch, at(6, 7, 8.0));
        assert_eq!(units("seconds since 2000-01-01T06:07:08.25 UTC", cal).epoch, at(6, 7, 8.25));
        assert_eq!(units("minutes since 2000-01-01 12:30", cal).epoch, at(12, 30, 0.0));
        assert_eq!(units("days since 2000-1-1 0", cal).epoch, at(0, 0, 0.0));
        assert_eq!(units("  days   since   2000-01-01  ", cal).epoch, at(0, 0, 0.0));
        assert_eq!(units("Days SINCE 2000-01-01 00:00:00 +00:00", cal).epoch, at(0, 0, 0.0));
        // Offsets move the epoch to UTC, as cftime does.
        assert_eq!(units("hours since 2000-01-01 12:00:00 +05:00", cal).epoch, at(7, 0, 0.0));
        assert_eq!(units("hours since 2000-01-01 12:00:00 -0300", cal).epoch, at(15, 0, 0.0));
        assert_eq!(units("hours since 1970-01-01T00:00:00+05:30", cal).epoch, CfDateTime { hour: 18, minute: 30, ..CfDateTime::date(1969, 12, 31) });
        assert_eq!(units("days since -0100-03-01", Calendar::Julian).epoch, CfDateTime::date(-100, 3, 1));
        assert_eq!(units("days since 2000-02-30", Calendar::Day360).epoch, CfDateTime::date(2000, 2, 30));
    }

    #[test]
    fn parse_errors() {
        let cal = Calendar::Standard;
        let err = |text: &str| TimeUnits::parse(text, cal).unwrap_err();
        let e = err("fortnights since 2000-01-01");
        assert!(e.contains("unknown time unit") && e.contains("fortnights"), "{e}");
        let e = err("months since 2000-01-01");
        assert!(e.contains("not supported") && e.contains("CF discourages"), "{e}");
        assert!(err("years since 2000-01-01").contains("not supported"));
        for garbage in [
            "",
            "days",
            "days after 2000-01-01",
            "days since",
            "days since yesterday",
            "days since 2000-01",
            "days since 2000-13-01",
            "days since 2000-01-01 25:00:00",
            "days since 2000-01-01 00:61",
            "days since 2000-01-01 00:00:00 CET",
            "days since 2000-01-01 00:00:00 UTC+05:00",
            "days since 2000-01-01 00:00:00 junk",
            "days since 2000-01-01 00:00:xx",
            "1950-01-01",
        ] {
            let e = err(garbage);
            assert!(e.contains("expected"), "{garbage:?} -> {e}");
        }
        // Dates that the calendar lacks.
        assert!(err("days since 1582-10-10").contains("does not exist in the standard calendar"));
        assert!(err("days since 1900-02-29").contains("does not exist"));
        assert!(err("days since 0000-01-01").contains("does not exist"));
        assert!(TimeUnits::parse("days since 0000-01-01", Calendar::ProlepticGregorian).is_ok());
        assert!(TimeUnits::parse("days since 2001-02-29", Calendar::NoLeap).is_err());
        assert!(TimeUnits::parse("days since 2001-02-29", Calendar::AllLeap).is_ok());
        assert!(TimeUnits::parse("days since 2001-01-31", Calendar::Day360).is_err());
    }

    #[test]
    fn day_number_round_trips_in_every_calendar() {
        for cal in Calendar::ALL {
            // Every day over several 400-year cycles around year 0 and the 1582 reform, plus a far range.
            for range in [-400_000..400_000i64, 577_000..579_000, 700_000_000..700_001_000] {
                let mut previous: Option<(i32, u32, u32)> = None;
                for n in range {
                    let (y, m, d) = from_day_number(cal, n);
                    assert!(cal.is_valid_date(y, m, d), "{cal:?} day {n} -> invalid {y}-{m}-{d}");
                    assert_eq!(day_number(cal, y, m, d), n, "{cal:?} {y}-{m}-{d}");
                    // Consecutive day numbers are consecutive dates: no day skipped or repeated.
                    if let Some(p) = previous {
                        assert!(p < (y, m, d), "{cal:?}: {p:?} then {y}-{m}-{d} at day {n}");
                    }
                    previous = Some((y, m, d));
                }
            }
        }
    }

    #[test]
    fn day_number_origin_is_0001_01_01() {
        for cal in Calendar::ALL {
            assert_eq!(day_number(cal, 1, 1, 1), 0, "{cal:?}");
            assert_eq!(from_day_number(cal, 0), (1, 1, 1), "{cal:?}");
        }
        // The day before 0001-01-01.
        assert_eq!(from_day_number(Calendar::Julian, -1), (-1, 12, 31));
        assert_eq!(from_day_number(Calendar::Standard, -1), (-1, 12, 31));
        assert_eq!(from_day_number(Calendar::ProlepticGregorian, -1), (0, 12, 31));
        assert_eq!(from_day_number(Calendar::Day360, -1), (0, 12, 30));
    }

    #[test]
    fn julian_day_numbers_match_known_dates() {
        assert_eq!(gregorian_to_jdn(2000, 1, 1), 2_451_545);
        assert_eq!(gregorian_to_jdn(1582, 10, 15), GREGORIAN_REFORM_JDN);
        assert_eq!(julian_to_jdn(1582, 10, 4), GREGORIAN_REFORM_JDN - 1);
        assert_eq!(julian_to_jdn(-4712, 1, 1), 0);
        assert_eq!(gregorian_to_jdn(-4713, 11, 24), 0);
        assert_eq!(julian_to_jdn(1, 1, 1), JULIAN_JDN_0001);
        assert_eq!(gregorian_to_jdn(1, 1, 1), GREGORIAN_JDN_0001);
    }

    #[test]
    fn proleptic_gregorian_agrees_with_chrono() {
        let origin = chrono::NaiveDate::from_ymd_opt(1, 1, 1).unwrap();
        let mut date = chrono::NaiveDate::from_ymd_opt(-2000, 1, 1).unwrap();
        let end = chrono::NaiveDate::from_ymd_opt(4000, 1, 1).unwrap();
        while date < end {
            use chrono::Datelike;
            let n = (date - origin).num_days();
            assert_eq!(day_number(Calendar::ProlepticGregorian, date.year(), date.month(), date.day()), n);
            date = date.succ_opt().unwrap();
        }
    }

    #[test]
    fn standard_switches_calendar_in_1582() {
        let cal = Calendar::Standard;
        assert_eq!(day_number(cal, 1582, 10, 15) - day_number(cal, 1582, 10, 4), 1);
        assert!(!cal.is_valid_date(1582, 10, 5) && !cal.is_valid_date(1582, 10, 14));
        assert!(cal.is_valid_date(1582, 10, 4) && cal.is_valid_date(1582, 10, 15));
        // 1500 is a leap year only before the switch; -1 (1 BC) is a Julian leap year.
        assert!(cal.is_leap_year(1500) && !cal.is_leap_year(1700) && cal.is_leap_year(-1));
        assert!(!Calendar::ProlepticGregorian.is_leap_year(1500));
        let u = units("days since 1582-10-04", cal);
        assert_eq!(u.decode(1.0), CfDateTime::date(1582, 10, 15));
        assert_eq!(u.encode(&CfDateTime::date(1582, 10, 15)), 1.0);
        // Julian and proleptic Gregorian dates of the same day coincide in the third century.
        assert_eq!(julian_to_jdn(250, 1, 1), gregorian_to_jdn(250, 1, 1));
    }

    #[test]
    fn decode_is_exact_for_large_and_small_values() {
        let u = units("days since 2000-01-01", Calendar::ProlepticGregorian);
        let t = u.decode(1e6 + 0.5);
        assert_eq!(t, CfDateTime { hour: 12, ..CfDateTime::date(4737, 11, 28) });
        let u = units("seconds since 2000-01-01", Calendar::Standard);
        let t = u.decode(86_400.0 * 1e6 + 0.125);
        assert_eq!((t.year, t.month, t.day, t.hour, t.minute), (4737, 11, 28, 0, 0));
        assert!((t.second - 0.125).abs() < 1e-6, "{t}");
        let u = units("days since 2000-01-01", Calendar::Standard);
        assert_eq!(u.decode(0.1).to_string(), "2000-01-01 02:24:00");
        assert_eq!(u.decode(-0.25).to_string(), "1999-12-31 18:00:00");
        assert!(u.try_decode(f64::NAN).is_none());
        assert!(u.try_decode(f64::INFINITY).is_none());
        assert!(u.try_decode(1e300).is_none());
    }

    #[test]
    fn encode_inverts_decode() {
        for cal in Calendar::ALL {
            for text in ["days since 1850-01-01", "hours since 1970-01-01 06:00", "seconds since 2000-02-15 00:00:30"] {
                let u = units(text, cal);
                for v in [0.0, 1.0, -1.0, 0.5, 12345.75, -98765.25, 730_000.0, 3.0e7] {
                    let back = u.encode(&u.decode(v));
                    assert!((back - v).abs() <= 1e-9 * v.abs().max(1.0), "{cal:?} {text} {v} -> {back}");
                }
            }
        }
    }

    #[test]
    fn display_formats() {
        let t = CfDateTime { year: 2000, month: 1, day: 2, hour: 3, minute: 4, second: 5.0 };
        assert_eq!(t.to_string(), "2000-01-02 03:04:05");
        assert_eq!(CfDateTime { second: 12.5, ..t }.to_string(), "2000-01-02 03:04:12.5");
        assert_eq!(CfDateTime { second: 5.0000004, ..t }.to_string(), "2000-01-02 03:04:05");
        assert_eq!(CfDateTime { second: 5.000123, ..t }.to_string(), "2000-01-02 03:04:05.000123");
        assert_eq!(CfDateTime { second: 59.999999, ..t }.to_string(), "2000-01-02 03:04:59.999999");
        assert_eq!(CfDateTime { second: 59.99999999, ..t }.to_string(), "2000-01-02 03:04:59.999999");
        assert_eq!(CfDateTime::date(-1, 12, 31).to_string(), "-0001-12-31 00:00:00");
        assert_eq!(CfDateTime::date(0, 1, 1).to_string(), "0000-01-01 00:00:00");
        assert_eq!(CfDateTime::date(12345, 1, 1).to_string(), "12345-01-01 00:00:00");
    }

    #[test]
    fn to_naive_only_for_gregorian_dates() {
        let t = CfDateTime { hour: 6, second: 1.5, ..CfDateTime::date(2000, 2, 29) };
        let n = t.to_naive().unwrap();
        assert_eq!(n.to_string(), "2000-02-29 06:00:01.500");
        assert!(CfDateTime::date(2000, 2, 30).to_naive().is_none());
        assert!(CfDateTime::date(1900, 2, 29).to_naive().is_none());
    }

    #[test]
    fn recode_keeps_the_calendar_date() {
        let noleap = units("days since 2000-01-01", Calendar::NoLeap);
        let standard = units("hours since 2000-01-01", Calendar::Standard);
        // noleap day 59 is 1 March 2000; in the leap standard year that is day 60 = 1440 hours.
        assert_eq!(noleap.recode(59.0, &standard), Some(1440.0));
        assert_eq!(standard.recode(1440.0, &noleap), Some(59.0));
        // 29 February 2000 (standard day 59) does not exist in noleap.
        assert_eq!(standard.recode(59.0 * 24.0, &noleap), None);
        let d360 = units("days since 2000-01-01", Calendar::Day360);
        // 360_day 30 February does not exist in standard; 1 March does.
        assert_eq!(d360.recode(59.0, &standard), None);
        assert_eq!(d360.recode(60.0, &standard), Some(1440.0));
        assert_eq!(noleap.recode(f64::NAN, &noleap), None);
        assert_eq!(noleap.recode(9.969_209_968_386_869e36, &noleap), None, "the netCDF default fill is no time");
    }

    #[test]
    fn durations_parse_to_seconds() {
        assert_eq!(parse_duration("6 hours"), Ok(21_600.0));
        assert_eq!(parse_duration("1.5 days"), Ok(129_600.0));
        assert_eq!(parse_duration(" 30 min "), Ok(1_800.0));
        assert_eq!(parse_duration("0"), Ok(0.0));
        for bad in ["6", "-1 day", "six hours", "2 fortnights", "1 month"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
