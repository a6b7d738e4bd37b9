//! Durations as users write them in configurations: Go's `time.ParseDuration` syntax (`30m`,
//! `1h30m`, `500ms`), as Terraform's `timeouts` blocks and the AWS provider's arguments take them.

use std::time::Duration;

/// The longest duration Go's `time.ParseDuration` accepts (2^63 - 1 nanoseconds, about 292
/// years); anything longer is refused rather than overflowing.
pub const MAX_DURATION: Duration = Duration::from_nanos(i64::MAX as u64);

/// Parses a Go-style duration (`1h30m`, `45s`, `500ms`, `2h`). A bare number is refused: the unit
/// matters. Never panics: a negative, non-finite or overlong value is an error.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("the value is empty".into());
    }
    if text.starts_with('-') {
        return Err(format!("{text:?} is negative"));
    }
    let mut total = 0f64;
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    while !rest.is_empty() {
        let digits_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(format!("expected a number at {rest:?}"));
        }
        let number: f64 =
            rest[..digits_end].parse().map_err(|_| format!("{:?} is not a number", &rest[..digits_end]))?;
        rest = &rest[digits_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        let seconds = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e-6,
            "ns" => 1e-9,
            "" => return Err(format!("{text:?} has a number without a unit (use h, m, s or ms)")),
            other => return Err(format!("unknown unit {other:?} (use h, m, s or ms)")),
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    match Duration::try_from_secs_f64(total) {
        Ok(duration) if duration <= MAX_DURATION => Ok(duration),
        _ => Err(format!("{text:?} is too large")),
    }
}

/// Formats a duration the way users write it (`20m`, `1h30m`, `45s`).
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("10 minutes").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5d").is_err());
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1500us").unwrap(), Duration::from_micros(1500));
    }

    #[test]
    fn refuses_negative_and_overlong_durations_instead_of_panicking() {
        assert!(parse_duration("-5m").unwrap_err().contains("negative"));
        assert!(parse_duration("9999999999999999h").unwrap_err().contains("too large"));
        assert!(parse_duration(&format!("{}h", "9".repeat(400))).unwrap_err().contains("too large"));
        assert!(parse_duration("2562048h").unwrap_err().contains("too large"), "above Go's limit");
        assert!(parse_duration("2562047h").is_ok());
        assert!(parse_duration("1..5h").unwrap_err().contains("not a number"));
        assert!(parse_duration(".").is_err());
    }

    #[test]
    fn formats_durations_as_users_write_them() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
