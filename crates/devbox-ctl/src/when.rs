//! Timestamps for people: the API speaks RFC 3339 with nanoseconds; a terminal wants
//! "2026-12-05 21:01 UTC (in 6d 23h)". `--json` output keeps the API's strings untouched.

use jiff::Timestamp;

/// `2026-12-05 21:01 UTC (in 6d 23h)`, or the input unchanged if it is not a timestamp.
pub fn with_distance(ts: &str, now: Timestamp) -> String {
    match ts.parse::<Timestamp>() {
        Ok(t) => format!("{} ({})", minute(t), distance(t, now)),
        Err(_) => ts.to_string(),
    }
}

/// `2026-12-05 21:01 UTC`, or the input unchanged if it is not a timestamp.
pub fn short(ts: &str) -> String {
    ts.parse::<Timestamp>()
        .map(minute)
        .unwrap_or_else(|_| ts.to_string())
}

fn minute(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn distance(t: Timestamp, now: Timestamp) -> String {
    let secs = t.as_second() - now.as_second();
    let span = secs.unsigned_abs();
    let (d, h, m) = (span / 86_400, span % 86_400 / 3_600, span % 3_600 / 60);
    let text = match (d, h, m) {
        (0, 0, 0) => return "now".to_string(),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    };
    if secs > 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn future_and_past_distances() {
        let now = ts("2026-11-28T21:00:00Z");
        assert_eq!(
            with_distance("2026-12-05T20:01:59.585927008Z", now),
            "2026-12-05 20:01 UTC (in 6d 23h)"
        );
        assert_eq!(
            with_distance("2026-11-28T18:30:00Z", now),
            "2026-11-28 18:30 UTC (2h 30m ago)"
        );
        assert_eq!(
            with_distance("2026-11-28T21:05:00Z", now),
            "2026-11-28 21:05 UTC (in 5m)"
        );
        assert_eq!(
            with_distance("2026-11-28T21:00:20Z", now),
            "2026-11-28 21:00 UTC (now)"
        );
    }

    #[test]
    fn not_a_timestamp_is_shown_as_is() {
        assert_eq!(with_distance("soon", Timestamp::UNIX_EPOCH), "soon");
        assert_eq!(short(""), "");
        assert_eq!(short("2026-11-28T21:01:59.5Z"), "2026-11-28 21:01 UTC");
    }
}
