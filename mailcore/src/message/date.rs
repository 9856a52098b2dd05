//! Dates: RFC 5322 `date-time` (with the obsolete forms real mail uses) and RFC 3339 output.

use std::fmt;

/// A point in time with the UTC offset it was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub timestamp: i64,
    /// The offset from UTC in minutes (east positive).
    pub offset_minutes: i16,
}

/// Broken-down civil time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a count of days since 1970-01-01 (proleptic
/// Gregorian; H. Hinnant's algorithm).
///
/// ```
/// assert_eq!(mailcore::message::date::civil_from_days(19_783), (2024, 3, 1));
/// ```
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl DateTime {
    /// Makes a date from civil fields in the given offset; `None` if a field is out of range.
    pub fn from_civil(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        offset_minutes: i16,
    ) -> Option<DateTime> {
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
            || !(-9999..=9999).contains(&year)
            || offset_minutes.abs() >= 24 * 60
        {
            return None;
        }
        let second = second.min(59);
        let local = days_from_civil(year, month, day) * 86_400
            + (hour * 3600 + minute * 60 + second) as i64;
        Some(DateTime {
            timestamp: local - offset_minutes as i64 * 60,
            offset_minutes,
        })
    }

    fn civil(&self) -> Civil {
        let local = self.timestamp + self.offset_minutes as i64 * 60;
        let (year, month, day) = civil_from_days(local.div_euclid(86_400));
        let secs = local.rem_euclid(86_400) as u32;
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
        }
    }

    /// Parses an RFC 5322 date, accepting the obsolete syntax: optional day of week, two- and
    /// three-digit years, missing seconds, zone names (`GMT`, `EST`, …, military letters),
    /// comments, and a missing zone (taken as UTC).
    pub fn parse_rfc5322(input: &str) -> Option<DateTime> {
        let mut cleaned = String::with_capacity(input.len());
        let mut depth = 0usize;
        for c in input.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => cleaned.push(' '),
                c if depth == 0 => cleaned.push(c),
                _ => {}
            }
        }
        let mut tokens = cleaned.split_whitespace().peekable();
        if let Some(t) = tokens.peek()
            && t.len() >= 3
            && DAYS
                .iter()
                .any(|d| t.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(d)))
        {
            tokens.next();
        }
        let day: u32 = tokens.next()?.parse().ok()?;
        let month_tok = tokens.next()?;
        let month = MONTHS.iter().position(|m| {
            month_tok
                .get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case(m))
        })? as u32
            + 1;
        let year_tok = tokens.next()?;
        if !year_tok.bytes().all(|b| b.is_ascii_digit()) || year_tok.len() > 4 {
            return None;
        }
        let mut year: i64 = year_tok.parse().ok()?;
        year = match year_tok.len() {
            1 | 2 if year < 50 => 2000 + year,
            1 | 2 => 1900 + year,
            3 => 1900 + year,
            _ => year,
        };
        let time = tokens.next()?;
        let mut hms = time.split(':');
        let hour: u32 = hms.next()?.parse().ok()?;
        let minute: u32 = hms.next()?.parse().ok()?;
        let second: u32 = match hms.next() {
            Some(s) => s.parse().ok()?,
            None => 0,
        };
        if hms.next().is_some() {
            return None;
        }
        let offset = match tokens.next() {
            None => 0,
            Some(z) => parse_zone(z)?,
        };
        DateTime::from_civil(year, month, day, hour, minute, second, offset)
    }

    /// Formats as RFC 3339, e.g. `2024-03-01T10:20:30+08:00`.
    pub fn to_rfc3339(&self) -> String {
        let c = self.civil();
        let (sign, off) = offset_parts(self.offset_minutes);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            off / 60,
            off % 60
        )
    }

    /// Formats as RFC 5322, e.g. `Fri, 01 Mar 2024 10:20:30 +0800`.
    pub fn to_rfc5322(&self) -> String {
        let c = self.civil();
        let days = (self.timestamp + self.offset_minutes as i64 * 60).div_euclid(86_400);
        // 1970-01-01 was a Thursday (index 3 in DAYS).
        let dow = DAYS[(days + 3).rem_euclid(7) as usize];
        let (sign, off) = offset_parts(self.offset_minutes);
        format!(
            "{}{}, {:02} {}{} {:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
            dow[..1].to_ascii_uppercase(),
            &dow[1..],
            c.day,
            MONTHS[c.month as usize - 1][..1].to_ascii_uppercase(),
            &MONTHS[c.month as usize - 1][1..],
            c.year,
            c.hour,
            c.minute,
            c.second,
            off / 60,
            off % 60
        )
    }
}

fn offset_parts(offset: i16) -> (char, i32) {
    if offset < 0 {
        ('-', -(offset as i32))
    } else {
        ('+', offset as i32)
    }
}

fn parse_zone(z: &str) -> Option<i16> {
    let b = z.as_bytes();
    if (b[0] == b'+' || b[0] == b'-') && b.len() == 5 && b[1..].iter().all(u8::is_ascii_digit) {
        let h: i16 = z[1..3].parse().ok()?;
        let m: i16 = z[3..5].parse().ok()?;
        if m > 59 {
            return None;
        }
        let v = h * 60 + m;
        return Some(if b[0] == b'-' { -v } else { v });
    }
    let hours = match z.to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        // Military zones are ambiguous in practice; RFC 5322 §4.3 says to treat them as -0000.
        s if s.len() == 1 && s.as_bytes()[0].is_ascii_alphabetic() => 0,
        _ => return None,
    };
    Some(hours * 60)
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<String> {
        DateTime::parse_rfc5322(s).map(|d| d.to_rfc3339())
    }

    #[test]
    fn rfc5322_examples() {
        assert_eq!(
            p("Fri, 21 Nov 1997 09:55:06 -0600").as_deref(),
            Some("1997-11-21T09:55:06-06:00")
        );
        assert_eq!(
            p("Tue, 1 Jul 2003 10:52:37 +0200").as_deref(),
            Some("2003-07-01T10:52:37+02:00")
        );
        assert_eq!(
            p("Thu,\r\n  13\r\n    Feb\r\n  1969\r\n  23:32\r\n -0330 (Newfoundland Time)")
                .as_deref(),
            Some("1969-02-13T23:32:00-03:30")
        );
        assert_eq!(
            p("21 Nov 97 09:55:06 GMT").as_deref(),
            Some("1997-11-21T09:55:06+00:00")
        );
        assert_eq!(
            p("1 Mar 24 10:20 EST").as_deref(),
            Some("2024-03-01T10:20:00-05:00")
        );
        assert_eq!(
            p("Fri, 01 Mar 2024 10:20:30 +0800 (CST)").as_deref(),
            Some("2024-03-01T10:20:30+08:00")
        );
        assert_eq!(p("29 Feb 2023 10:00:00 +0000"), None);
        assert_eq!(p("yesterday"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("1 Jan 2024 25:00:00 +0000"), None);
    }

    #[test]
    fn round_trip_formats() {
        let d = DateTime::parse_rfc5322("Fri, 01 Mar 2024 10:20:30 +0800").unwrap();
        assert_eq!(d.timestamp, 1_709_259_630);
        assert_eq!(d.to_rfc5322(), "Fri, 01 Mar 2024 10:20:30 +0800");
        assert_eq!(DateTime::parse_rfc5322(&d.to_rfc5322()), Some(d));
        let epoch = DateTime {
            timestamp: 0,
            offset_minutes: -330,
        };
        assert_eq!(epoch.to_rfc3339(), "1969-12-31T18:30:00-05:30");
        assert_eq!(epoch.to_rfc5322(), "Wed, 31 Dec 1969 18:30:00 -0530");
    }
}
