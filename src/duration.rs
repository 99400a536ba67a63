//! Durations as the flags take them: `500ms`, `90s`, `10m`, `1h`, `1m30s` or a bare number of
//! seconds, at most 7 days. The lowest layer: the operator's settings and the provider client's
//! both parse with it.

use std::time::Duration;

/// Longest duration any flag accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses a duration flag: `500ms`, `90s`, `10m`, `1h`, `1m30s` (any of humantime's forms) or
/// a bare number of seconds; more than zero and at most 7 days.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match parse_duration_or_zero(s)? {
        d if d.is_zero() => Err("duration must be greater than zero".to_string()),
        d => Ok(d),
    }
}

/// [`parse_duration`] that also takes zero (`0s`, `0`): for settings where none means off.
pub fn parse_duration_or_zero(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is far more than 7 days.
        s.parse().map(Duration::from_secs).unwrap_or(Duration::MAX)
    } else {
        humantime::parse_duration(s)
            .map_err(|e| format!("expected a duration like 90s, 10m or 1m30s, got {s:?}: {e}"))?
    };
    if d > MAX_DURATION {
        Err(format!("duration {s:?} is longer than 7 days"))
    } else {
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("7d"), Ok(MAX_DURATION));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("99999999999999999999999").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999h").is_err());
        assert!(parse_duration("8d").is_err());
        assert!(parse_duration("169h").is_err());
        // Where zero means off.
        assert_eq!(parse_duration_or_zero("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration_or_zero("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration_or_zero("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration_or_zero("8d").is_err());
        assert!(parse_duration_or_zero("").is_err());
    }
}
