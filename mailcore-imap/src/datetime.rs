//! IMAP dates: `date` (`1-Feb-1994`) in SEARCH and `date-time`
//! (`"17-Jul-1996 02:44:25 -0700"`) in APPEND and INTERNALDATE (RFC 9051 §9).

use mailcore::message::DateTime;
use mailcore::message::date::civil_from_days;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month(s: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|p| p as u32 + 1)
}

fn number(s: &str, min_len: usize, max_len: usize) -> Option<u32> {
    (s.len() >= min_len && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses `date-text` (`1-Feb-1994`) to days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let (d, m, y) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let dt = DateTime::from_civil(
        i64::from(number(y, 4, 4)?),
        month(m)?,
        number(d, 1, 2)?,
        0,
        0,
        0,
        0,
    )?;
    Some(dt.timestamp.div_euclid(86_400))
}

/// Parses the content of a `date-time` (`17-Jul-1996 02:44:25 -0700`, the day may start with
/// a space) to seconds since the epoch.
pub fn parse_date_time(s: &str) -> Option<i64> {
    if s.len() != 26 {
        return None;
    }
    let (date, rest) = s.split_at(11);
    let date = date.trim_start();
    let mut it = date.split('-');
    let (d, m, y) = (it.next()?, it.next()?, it.next()?);
    let rest = rest.strip_prefix(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let mut t = time.split(':');
    let (hh, mm, ss) = (t.next()?, t.next()?, t.next()?);
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let z = number(&zone[1..], 4, 4)?;
    let offset = sign * ((z / 100) * 60 + z % 100) as i16;
    DateTime::from_civil(
        i64::from(number(y, 4, 4)?),
        month(m)?,
        number(d, 1, 2)?,
        number(hh, 2, 2)?,
        number(mm, 2, 2)?,
        number(ss, 2, 2)?,
        offset,
    )
    .map(|d| d.timestamp)
}

/// Formats a timestamp as the content of a `date-time`, in UTC.
///
/// ```
/// assert_eq!(mailcore_imap::datetime::format_date_time(837_571_465), "17-Jul-1996 02:44:25 +0000");
/// ```
pub fn format_date_time(ts: i64) -> String {
    let (y, m, d) = civil_from_days(ts.div_euclid(86_400));
    let secs = ts.rem_euclid(86_400);
    format!(
        "{:02}-{}-{:04} {:02}:{:02}:{:02} +0000",
        d,
        MONTHS[(m as usize).saturating_sub(1) % 12],
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Formats days since the epoch as `date-text`.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}-{}-{:04}",
        d,
        MONTHS[(m as usize).saturating_sub(1) % 12],
        y
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1-Feb-1994"), Some(8797));
        assert_eq!(format_date(8797), "1-Feb-1994");
        assert_eq!(parse_date("31-Feb-1994"), None);
        assert_eq!(parse_date("1-Foo-1994"), None);
        let t = parse_date_time("17-Jul-1996 02:44:25 -0700").unwrap();
        assert_eq!(format_date_time(t), "17-Jul-1996 09:44:25 +0000");
        assert_eq!(
            parse_date_time(" 7-Jul-1996 02:44:25 +0000"),
            Some(836_707_465)
        );
        assert_eq!(parse_date_time("17-Jul-1996 02:44:25"), None);
    }
}
