//! `listen --forward-to`: each event delivered again, its body byte for byte and its
//! original headers (so that the sender's signature still verifies), with `send`'s retries.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;

use super::{ListenArgs, Shown};
use crate::alert::{self, ClientOptions, Delivery, Proxies, RetryPolicy};

/// Headers that describe one hop, not the message: the new request has its own.
const HOP_BY_HOP: [&str; 10] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// What the server shows for a secret header value it did not keep.
const REDACTED: &str = "[redacted]";

pub struct Forwarder {
    client: alert::Client,
    endpoint: alert::Endpoint,
    policy: RetryPolicy,
    total: u32,
}

impl Forwarder {
    pub fn new(
        args: &ListenArgs,
        url: &url::Url,
        extra_roots: Vec<CertificateDer<'static>>,
    ) -> anyhow::Result<Self> {
        let client = alert::build_client(ClientOptions {
            timeout: args.timeout,
            connect_timeout: None,
            extra_roots,
            proxies: Proxies::FromEnv,
        })?;
        Ok(Self {
            client,
            endpoint: url.clone().into(),
            policy: RetryPolicy::exponential(args.retries, args.retry_backoff),
            total: args.retries + 1,
        })
    }

    /// Delivers one event; whether it was delivered. Each attempt is reported on stderr.
    pub async fn deliver(&self, shown: &Shown<'_>, body: Bytes) -> bool {
        let delivery = Delivery {
            endpoint: self.endpoint.clone(),
            body,
            headers: original_headers(shown.headers.as_ref()),
        };
        let seq = shown.seq;
        let total = self.total;
        let report = |attempt: &alert::Attempt, wait: Option<Duration>| {
            let then = wait
                .map(|w| format!(", retrying in {}ms", w.as_millis()))
                .unwrap_or_default();
            crate::cli::say!(
                "hookrelay: #{seq} → {}: attempt {}/{total}: {}{then}",
                self.endpoint.url(),
                attempt.number,
                attempt.summary()
            );
        };
        let outcome = alert::deliver(
            &self.client,
            &delivery,
            &self.policy,
            |_| HeaderMap::new(),
            report,
        )
        .await;
        if !outcome.delivered {
            crate::cli::say!(
                "hookrelay: error: event #{seq} not delivered to {} after {} attempt(s): {}",
                self.endpoint.url(),
                outcome.attempts.len(),
                outcome.last().summary()
            );
        }
        outcome.delivered
    }

    /// Reports an event not delivered because its body could not be read from the server.
    pub fn unread(&self, seq: u64, error: &anyhow::Error) {
        crate::cli::say!(
            "hookrelay: error: event #{seq} not delivered to {}: {error:#}",
            self.endpoint.url()
        );
    }
}

/// The headers an event arrived with, as the server shows them: a list of
/// `[name, value]` pairs or of `{"name": …, "value": …}` objects, or an object of names;
/// hop-by-hop headers and redacted values left out.
pub fn original_headers(shown: Option<&serde_json::Value>) -> HeaderMap {
    use serde_json::Value;
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    match shown {
        Some(Value::Array(items)) => {
            for item in items {
                let pair = match item {
                    Value::Object(o) => o.get("name").zip(o.get("value")),
                    Value::Array(a) if a.len() == 2 => Some((&a[0], &a[1])),
                    _ => None,
                };
                if let Some((Value::String(n), Value::String(v))) = pair {
                    pairs.push((n, v));
                }
            }
        }
        Some(Value::Object(map)) => {
            for (name, value) in map {
                match value {
                    Value::String(v) => pairs.push((name, v)),
                    Value::Array(values) => pairs.extend(
                        values
                            .iter()
                            .filter_map(Value::as_str)
                            .map(|v| (name.as_str(), v)),
                    ),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    // Headers the sender's `Connection` named were for that hop alone.
    let named = crate::server::headers::named_by_connection(
        pairs.iter().map(|(name, value)| (*name, value.as_bytes())),
    );
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            continue;
        };
        // A secret the server did not keep (see serve --keep-secret-headers) is left out
        // rather than sent as its placeholder.
        if !HOP_BY_HOP.contains(&name.as_str())
            && !named.iter().any(|n| n == name.as_str())
            && value != REDACTED
        {
            headers.append(name, value);
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_stay_behind_and_the_rest_keep_their_order() {
        let shown = serde_json::json!([
            {"name": "Host", "value": "hooks.example.com"},
            {"name": "webhook-id", "value": "msg_1"},
            {"name": "Content-Length", "value": "12"},
            {"name": "X-Tag", "value": "a"},
            {"name": "x-tag", "value": "b"},
            {"name": "Connection", "value": "keep-alive, X-Hop"},
            {"name": "X-Hop", "value": "this hop only"},
            {"name": "Authorization", "value": "[redacted]"},
        ]);
        let headers = original_headers(Some(&shown));
        assert_eq!(headers.len(), 3, "{headers:?}");
        assert_eq!(headers["webhook-id"], "msg_1");
        let tags: Vec<_> = headers.get_all("x-tag").iter().collect();
        assert_eq!(tags, ["a", "b"]);
        assert!(original_headers(None).is_empty());
    }
}
