#!/usr/bin/env python3
"""Writes tests/fixtures/cftime_decoded.json: CF time values decoded by Python's cftime.

cftime is what xarray and netCDF4-python use to decode CF times, so it is the reference that
src/cf/time.rs must agree with (tests/cf_time.rs reads this file). Each case is
{units, calendar, value, expected}, with expected formatted as CfDateTime's Display does:
"YYYY-MM-DD HH:MM:SS" plus ".ffffff" when there are microseconds, and a leading "-" for a
negative year.

Usage (from the repository root):
    python3 -m venv /tmp/cftime-venv && /tmp/cftime-venv/bin/pip install cftime
    /tmp/cftime-venv/bin/python scripts/make_cftime_fixtures.py
"""

import json
import pathlib
import warnings

import cftime

# cftime warns (CFWarning) about years before 1 in calendars without a year zero; such dates are
# part of what is tested here.
warnings.simplefilter("ignore")

OUTPUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "cftime_decoded.json"

CALENDARS = ["standard", "proleptic_gregorian", "julian", "noleap", "all_leap", "360_day"]

# (units, values) decoded in every calendar.
COMMON = [
    # Whole, negative and fractional days; large values (730000 days is about 2000 years, 1e6
    # days reach year 4687, and -730000.5 days year -50, across the 1582 switch for `standard`).
    ("days since 1950-01-01", [0, -1, 0.5, -0.25, 730000, -730000.5, 1e6]),
    # 59 days after 1 January: 29 February in a Gregorian leap year, 30 February in 360_day.
    ("hours since 2000-01-01 00:00:00", [1416, -36.5, 8784.75]),
    # A large count of seconds (about 47 years), and one with a sub-second part.
    ("seconds since 1970-01-01T00:00:00Z", [1.5e9, -123456789.125]),
    ("minutes since 2010-06-15 12:30", [90.5]),
]

# Cases that only make sense in some calendars, or single out one behaviour.
SPECIAL = [
    # 1900 is a leap year only in julian (and all_leap); 29 February does not exist in standard.
    ("days since 1900-02-28", "standard", 1),
    ("days since 1900-02-28", "gregorian", 1),
    ("days since 1900-02-28", "julian", 1),
    ("days since 1900-02-28", "all_leap", 1),
    ("days since 1900-02-28", "366_day", 1),
    ("days since 1900-02-28", "noleap", 1),
    ("days since 1900-02-28", "365_day", 1),
    ("days since 1900-02-28", "360_day", 2),
    ("days since 2000-02-30", "360_day", 1),
    ("days since 2000-02-30", "360_day", -30),
    # The Julian/Gregorian switch of `standard`: 1582-10-04 is followed by 1582-10-15.
    ("days since 1582-10-04", "standard", 1),
    ("days since 1582-10-15", "standard", -1),
    ("days since 1582-10-15", "standard", -0.5),
    ("hours since 1582-10-01 00:00:00", "standard", 96),
    ("days since 1582-10-01", "proleptic_gregorian", 10),
    ("days since 1582-10-01", "julian", 10),
    ("days since 1500-02-28", "standard", 1),
    ("days since 1500-02-28", "proleptic_gregorian", 1),
    # Year numbering around 1 BC: no year zero in standard/julian, a year zero elsewhere.
    ("days since 0001-01-01", "standard", -1),
    ("days since 0001-01-01", "julian", -1),
    ("days since 0001-01-01", "proleptic_gregorian", -1),
    ("days since 0001-01-01", "noleap", -1),
    ("days since 0001-01-01", "julian", -366),
    ("days since 0001-01-01", "standard", -367),
    # A non-zero time-zone offset moves the epoch to UTC.
    ("hours since 2000-01-01 12:00:00 +05:00", "standard", 1),
    ("hours since 1970-01-01T00:00:00-03:30", "proleptic_gregorian", 0.5),
    # Fractional seconds in the epoch, sub-second units.
    ("seconds since 2000-01-01 00:00:00.5", "noleap", 0.25),
    ("milliseconds since 2000-01-01", "standard", 86400001.5),
    # Large values in hours and seconds.
    ("hours since 1800-01-01", "360_day", 17520000.25),
    ("seconds since 1850-01-01", "all_leap", 6.3e10),
]


def format_date(d):
    sign = "-" if d.year < 0 else ""
    text = f"{sign}{abs(d.year):04d}-{d.month:02d}-{d.day:02d} {d.hour:02d}:{d.minute:02d}:{d.second:02d}"
    if d.microsecond:
        text += f".{d.microsecond:06d}"
    return text


def case(units, calendar, value):
    decoded = cftime.num2date(value, units, calendar=calendar)
    return {"units": units, "calendar": calendar, "value": value, "expected": format_date(decoded)}


def main():
    cases = [case(u, cal, v) for cal in CALENDARS for u, values in COMMON for v in values]
    cases += [case(u, cal, v) for u, cal, v in SPECIAL]
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(cases, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUTPUT} (cftime {cftime.__version__})")


if __name__ == "__main__":
    main()
