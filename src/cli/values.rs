//! Command-line value parsers: durations (`500ms`, `2s`, `5m`, `1h`, a bare number is
//! seconds), comma-separated lists of them, and sizes (`1048576`, `64KiB`, `1MiB`).

use std::time::Duration;

use http::header::{HeaderName, HeaderValue};

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("expected a duration of zero or more, got {text:?}"));
    }
    humantime::parse_duration(text)
        .map_err(|_| format!("expected a duration like 500ms, 2s, 5m or 1h, got {text:?}"))
}

/// A time allowed for something (an attempt, a connection): more than zero, which would
/// time out every attempt before it begins.
pub fn parse_time_allowed(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        zero if zero.is_zero() => Err(format!(
            "expected a time allowed of more than zero, got {:?}",
            text.trim()
        )),
        allowed => Ok(allowed),
    }
}

/// A comma-separated list of durations, such as a retry schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationList(pub Vec<Duration>);

/// A list of durations, `1s,5s,30s`: at least one (an empty list, as a blank variable
/// gives, would quietly mean no retry at all).
pub fn parse_durations(text: &str) -> Result<DurationList, String> {
    let list = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(parse_duration)
        .collect::<Result<Vec<_>, _>>()?;
    if list.is_empty() {
        return Err(format!(
            "expected at least one duration, like 1s,5s,30s, got {text:?}"
        ));
    }
    Ok(DurationList(list))
}

pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let unit_factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => Some(1),
        "kib" | "k" => Some(1 << 10),
        "mib" | "m" => Some(1 << 20),
        "gib" | "g" => Some(1 << 30),
        "kb" => Some(1_000),
        "mb" => Some(1_000_000),
        "gb" => Some(1_000_000_000),
        _ => None,
    };
    match (digits.parse::<u64>(), unit_factor) {
        (Ok(n), Some(f)) => n
            .checked_mul(f)
            .ok_or_else(|| format!("size {text:?} is too large")),
        _ => Err(format!(
            "expected a size like 1048576, 64KiB or 1MiB, got {text:?}"
        )),
    }
}

/// Where `serve` keeps events and deliveries: `memory` or `sqlite:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    Memory,
    Sqlite(std::path::PathBuf),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl StoreSpec {
    /// Whether what is stored outlives the process.
    pub fn is_durable(&self) -> bool {
        matches!(self, StoreSpec::Sqlite(_) | StoreSpec::Postgres(_))
    }
}

impl std::fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSpec::Memory => f.write_str("memory"),
            StoreSpec::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            // Never the password: this is logged.
            StoreSpec::Postgres(url) => f.write_str(&crate::server::postgres::redacted(url)),
        }
    }
}

pub fn parse_store(text: &str) -> Result<StoreSpec, String> {
    match text.split_once(':') {
        None if text == "memory" => Ok(StoreSpec::Memory),
        Some(("sqlite", path)) if !path.is_empty() => Ok(StoreSpec::Sqlite(path.into())),
        Some(("postgres" | "postgresql", rest)) if rest.starts_with("//") => {
            Ok(StoreSpec::Postgres(text.to_owned()))
        }
        _ => Err(format!(
            "expected memory, sqlite:PATH (e.g. sqlite:/var/lib/hookrelay/events.db) or \
             postgres://USER@HOST:PORT/DB, got {:?}",
            crate::server::postgres::redacted(text)
        )),
    }
}

/// A header written `Name: value`.
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(format!(
            "expected a header like 'Name: value', got {text:?}"
        ));
    };
    let name = HeaderName::try_from(name.trim())
        .map_err(|_| format!("invalid header name {:?}", name.trim()))?;
    let value = HeaderValue::try_from(value.trim())
        .map_err(|_| format!("invalid header value in {text:?}"))?;
    Ok((name, value))
}

/// A `serve --forward-header`: as [`parse_header`], refusing the headers the relay sets
/// itself (`Host`, `Content-Length`, `Content-Type`, `Transfer-Encoding`, `Connection`,
/// `webhook-*` and Svix's `svix-*`), as an endpoint's `headers` are refused.
pub fn parse_forward_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = parse_header(text)?;
    if crate::server::endpoints::reserved_header(name.as_str()) {
        return Err(format!(
            "{name} is set by the relay itself (Host, Content-Length, Content-Type, \
             Transfer-Encoding, Connection, webhook-* and svix-* cannot be given)"
        ));
    }
    Ok((name, value))
}

/// A `send -H`: as [`parse_header`], refusing the headers that frame the body, which the
/// client sets from the body itself (a `Content-Length: 5` would cut it to five bytes).
pub fn parse_send_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = parse_header(text)?;
    if matches!(
        name.as_str(),
        "content-length" | "transfer-encoding" | "connection"
    ) {
        return Err(format!(
            "{name} is set from the body itself (Content-Length, Transfer-Encoding and \
             Connection cannot be given)"
        ));
    }
    Ok((name, value))
}

/// A relay route written `GLOB=URL`: events whose `event_type` matches go to URL.
pub fn parse_route(text: &str) -> Result<(glob::Pattern, url::Url), String> {
    let Some((pattern, url)) = text.split_once('=') else {
        return Err(format!(
            "expected a route like 'order.*=http://host/hook', got {text:?}"
        ));
    };
    // No event has an empty type: such a route would never take one.
    if pattern.trim().is_empty() {
        return Err(format!(
            "the route has no type or glob before '=', got {text:?}; expected one like \
             'order.*=http://host/hook' ('*=URL' takes every event)"
        ));
    }
    let pattern = glob::Pattern::new(pattern.trim())
        .map_err(|e| format!("invalid pattern {:?}: {e}", pattern.trim()))?;
    Ok((pattern, parse_http_url(url.trim())?))
}

/// An `http://` or `https://` URL. Without a scheme (`127.0.0.1:9000/hook`, which the URL
/// parser reads as relative or as the scheme `localhost:`), the message says to add one.
pub fn parse_http_url(text: &str) -> Result<url::Url, String> {
    let needs_scheme = || {
        // Only where adding the scheme would make a URL: not with a space in it.
        let hint = if text.contains("://") || text.contains(char::is_whitespace) {
            String::new()
        } else {
            format!(" (http://{text}?)")
        };
        format!("the URL needs http:// or https:// in front, got {text:?}{hint}")
    };
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) => Err(needs_scheme()),
        Err(e) => Err(format!("invalid URL {text:?}: {e}")),
    }
}

/// Where `--id-from`/`--type-from` (serve, validate) find a value: `header:NAME` or a JSON
/// Pointer.
pub fn parse_locator(text: &str) -> Result<crate::source::Locator, String> {
    text.parse()
        .map_err(|e: crate::source::LocatorError| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_bare_seconds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("soon").unwrap_err().contains("500ms"));
        assert!(parse_duration("-1").is_err());
        assert!(parse_durations("").is_err());
        assert!(parse_durations(" , ").is_err());
        assert!(parse_route("=http://127.0.0.1:9/x").is_err());
        assert!(parse_route(" =http://127.0.0.1:9/x").is_err());
        assert!(parse_route("*=http://127.0.0.1:9/x").is_ok());
        assert!(
            !parse_http_url("not a url")
                .unwrap_err()
                .contains("http://not a url")
        );
        assert!(
            parse_http_url("127.0.0.1:9/x")
                .unwrap_err()
                .contains("(http://127.0.0.1:9/x?)")
        );
        let list = parse_durations("1s,5s,30s").unwrap();
        assert_eq!(list.0, [1, 5, 30].map(Duration::from_secs));
    }

    #[test]
    fn stores_are_memory_or_sqlite_with_a_path() {
        assert_eq!(parse_store("memory"), Ok(StoreSpec::Memory));
        assert_eq!(
            parse_store("sqlite:/tmp/a:b.db"),
            Ok(StoreSpec::Sqlite("/tmp/a:b.db".into()))
        );
        assert_eq!(
            parse_store("sqlite:events.db"),
            Ok(StoreSpec::Sqlite("events.db".into()))
        );
        assert!(parse_store("sqlite:").unwrap_err().contains("sqlite:PATH"));
        assert_eq!(
            parse_store("postgresql://u@db:5432/hooks"),
            Ok(StoreSpec::Postgres("postgresql://u@db:5432/hooks".into()))
        );
        let spec = parse_store("postgres://u:hunter2@db/hooks").unwrap();
        assert!(!spec.to_string().contains("hunter2"), "{spec}");
        assert!(parse_store("postgres:x").is_err());
        assert!(parse_store("memory:x").is_err());
    }

    #[test]
    fn a_url_without_a_scheme_is_told_to_take_one() {
        let told = parse_http_url("127.0.0.1:9000/hook").unwrap_err();
        assert!(told.contains("needs http:// or https://"), "{told}");
        assert!(told.contains("(http://127.0.0.1:9000/hook?)"), "{told}");
        let told = parse_http_url("localhost:9000/hook").unwrap_err();
        assert!(told.contains("needs http:// or https://"), "{told}");
        let told = parse_http_url("ftp://example.test/x").unwrap_err();
        assert!(told.contains("needs http:// or https://"), "{told}");
        assert!(!told.contains("(http://"), "{told}");
        assert!(
            parse_http_url("http://[::1")
                .unwrap_err()
                .contains("invalid URL")
        );
        assert_eq!(
            parse_http_url("https://example.test/hook").map(String::from),
            Ok("https://example.test/hook".to_string())
        );
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("1MiB"), Ok(1_048_576));
        assert!(parse_size("lots").unwrap_err().contains("64KiB"));
    }
}
