//! Structured logs on stderr in the JSON form of hclog, which Terraform's plugin client reads line
//! by line and re-logs at each line's level (`TF_LOG=debug terraform apply` shows them).
//!
//! The level comes from `TF_LOG_PROVIDER_EFS`, `TF_LOG_PROVIDER` or `TF_LOG`, in that order, as
//! Go providers do; without any of them only warnings and errors are written. Secrets (keys,
//! tokens) are never passed to these functions: log names and ids, not credentials.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use time::macros::format_description;
use time::OffsetDateTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Off,
}

impl Level {
    fn parse(text: &str) -> Option<Level> {
        match text.trim().to_ascii_uppercase().as_str() {
            "TRACE" | "JSON" => Some(Level::Trace),
            "DEBUG" => Some(Level::Debug),
            "INFO" => Some(Level::Info),
            "WARN" => Some(Level::Warn),
            "ERROR" => Some(Level::Error),
            "OFF" => Some(Level::Off),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Off => "off",
        }
    }
}

static THRESHOLD: OnceLock<Level> = OnceLock::new();

fn threshold() -> Level {
    *THRESHOLD.get_or_init(|| {
        ["TF_LOG_PROVIDER_EFS", "TF_LOG_PROVIDER", "TF_LOG"]
            .iter()
            .find_map(|name| std::env::var(name).ok().and_then(|v| Level::parse(&v)))
            .unwrap_or(Level::Warn)
    })
}

pub fn enabled(level: Level) -> bool {
    level != Level::Off && level >= threshold()
}

/// Writes one log line with extra key/value fields.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    if !enabled(level) {
        return;
    }
    let line = render(level, message, fields, OffsetDateTime::now_utc());
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

fn render(level: Level, message: &str, fields: &[(&str, &str)], now: OffsetDateTime) -> String {
    // hclog's timestamp layout, which the plugin client parses: microseconds and a Z suffix for UTC.
    let layout =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    let mut entry = Map::new();
    entry.insert("@level".into(), Value::from(level.name()));
    entry.insert("@message".into(), Value::from(message));
    entry.insert("@module".into(), Value::from("efs"));
    entry.insert(
        "@timestamp".into(),
        Value::from(now.format(&layout).unwrap_or_default()),
    );
    for (key, value) in fields {
        entry.insert((*key).to_string(), Value::from(*value));
    }
    Value::Object(entry).to_string()
}

pub fn trace(message: &str, fields: &[(&str, &str)]) {
    log(Level::Trace, message, fields)
}

pub fn debug(message: &str, fields: &[(&str, &str)]) {
    log(Level::Debug, message, fields)
}

pub fn info(message: &str, fields: &[(&str, &str)]) {
    log(Level::Info, message, fields)
}

pub fn warn(message: &str, fields: &[(&str, &str)]) {
    log(Level::Warn, message, fields)
}

pub fn error(message: &str, fields: &[(&str, &str)]) {
    log(Level::Error, message, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_hclog_json() {
        let now = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let line = render(Level::Debug, "configured", &[("region", "us-east-1")], now);
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["@level"], "debug");
        assert_eq!(parsed["@message"], "configured");
        assert_eq!(parsed["@timestamp"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(parsed["region"], "us-east-1");
    }

    #[test]
    fn parses_levels_like_terraform() {
        assert_eq!(Level::parse("debug"), Some(Level::Debug));
        assert_eq!(Level::parse("JSON"), Some(Level::Trace));
        assert_eq!(Level::parse("bogus"), None);
    }
}
