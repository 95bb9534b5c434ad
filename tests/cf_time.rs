//! Checks `cf::time` against Python's cftime, the decoder behind xarray and netCDF4-python.
//! The cases in tests/fixtures/cftime_decoded.json are made by scripts/make_cftime_fixtures.py.

use contrada::cf::time::{Calendar, CfDateTime, TimeUnits, day_number};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    units: String,
    calendar: String,
    value: f64,
    expected: String,
}

fn cases() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cftime_decoded.json");
    let text = std::fs::read_to_string(path).expect("read the cftime fixture");
    serde_json::from_str(&text).expect("parse the cftime fixture")
}

/// Reads "[-]YYYY-MM-DD HH:MM:SS[.ffffff]" as written by the fixture script.
fn parse_expected(text: &str) -> CfDateTime {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (date, time) = body.split_once(' ').expect("date and time");
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    assert!(d.len() == 3 && t.len() == 3, "bad expected date {text:?}");
    let year: i32 = d[0].parse().unwrap();
    CfDateTime {
        year: if negative { -year } else { year },
        month: d[1].parse().unwrap(),
        day: d[2].parse().unwrap(),
        hour: t[0].parse().unwrap(),
        minute: t[1].parse().unwrap(),
        second: t[2].parse().unwrap(),
    }
}

#[test]
fn fixture_covers_every_calendar() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    for cal in Calendar::ALL {
        let n = cases.iter().filter(|c| c.calendar.parse::<Calendar>() == Ok(cal)).count();
        assert!(n >= 10, "{} has only {n} cases", cal.name());
    }
}

/// Seconds from `a` to `b` in `cal`, from day numbers (which the unit tests check on their own).
fn seconds_between(cal: Calendar, a: &CfDateTime, b: &CfDateTime) -> f64 {
    let days = day_number(cal, b.year, b.month, b.day) - day_number(cal, a.year, a.month, a.day);
    let sod = |t: &CfDateTime| t.hour as f64 * 3600.0 + t.minute as f64 * 60.0 + t.second;
    days as f64 * 86_400.0 + (sod(b) - sod(a))
}

#[test]
fn decode_matches_cftime() {
    let mut failures = Vec::new();
    for case in cases() {
        let cal: Calendar = case.calendar.parse().unwrap();
        let units = TimeUnits::parse(&case.units, cal).unwrap_or_else(|e| panic!("{e}"));
        let got = units.decode(case.value);
        let want = parse_expected(&case.expected);
        // Same date and time to the second, fractional seconds within 1 ms. Compared as instants,
        // because cftime rounds value * unit in f64 and can land a few microseconds to the other
        // side of a minute boundary for values near 1e11 s (this module is exact there).
        if seconds_between(cal, &want, &got).abs() >= 1e-3 {
            failures.push(format!("{} ({}) value {}: got {got}, cftime {}", case.units, case.calendar, case.value, case.expected));
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn display_matches_the_fixture_format() {
    // The fixture writes microseconds as ".ffffff"; Display trims trailing zeros.
    for case in cases() {
        let want = match case.expected.split_once('.') {
            Some((whole, frac)) => format!("{whole}.{}", frac.trim_end_matches('0')),
            None => case.expected.clone(),
        };
        assert_eq!(parse_expected(&case.expected).to_string(), want);
    }
}

#[test]
fn encode_inverts_decode() {
    for case in cases() {
        let cal: Calendar = case.calendar.parse().unwrap();
        let units = TimeUnits::parse(&case.units, cal).unwrap();
        let back = units.encode(&units.decode(case.value));
        // 1e-6 relative, plus the half microsecond to which decode rounds (as cftime does), which
        // matters only for sub-second units.
        let tolerance = 1e-6 * case.value.abs().max(1.0) + 0.5e-6 / units.unit_seconds;
        assert!((back - case.value).abs() <= tolerance, "{} ({}): {} decoded and encoded to {back}", case.units, case.calendar, case.value);
    }
}
