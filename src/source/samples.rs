//! Sample payloads shipped inside the binary (`hookrelay samples list`, `samples show`,
//! `send --sample`), written for this project in each provider's shape, so that one line
//! tests a receiver with a realistic, correctly signed delivery. The files are in
//! `src/source/samples/`, one per sample, named `<source>.<type>.json`.

/// One sample payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// `github.push`: the source, a dot, the event.
    pub name: &'static str,
    /// The source (and `send --as`) it is written for.
    pub source: &'static str,
    /// The type header it goes with, for the providers that carry the type in a header
    /// (GitHub's `X-GitHub-Event`, Shopify's `X-Shopify-Topic`).
    pub event: Option<&'static str>,
    pub summary: &'static str,
    pub body: &'static str,
}

macro_rules! sample {
    ($name:literal, $source:literal, $event:expr, $summary:literal) => {
        Sample {
            name: $name,
            source: $source,
            event: $event,
            summary: $summary,
            body: include_str!(concat!("samples/", $name, ".json")),
        }
    };
}

/// Every sample, by source.
pub static SAMPLES: &[Sample] = &[
    sample!("event.alert", "event", None, "the model: an alert event"),
    sample!(
        "github.ping",
        "github",
        Some("ping"),
        "sent when a webhook is created"
    ),
    sample!(
        "github.push",
        "github",
        Some("push"),
        "one commit pushed to main"
    ),
    sample!(
        "github.pull_request",
        "github",
        Some("pull_request"),
        "a pull request opened (type pull_request.opened)"
    ),
    sample!(
        "stripe.payment_intent.succeeded",
        "stripe",
        None,
        "a payment completed"
    ),
    sample!("stripe.invoice.paid", "stripe", None, "an invoice paid"),
    sample!(
        "standard.invoice.created",
        "standard",
        None,
        "a Standard Webhooks event: type, timestamp, data"
    ),
    sample!(
        "shopify.orders.create",
        "shopify",
        Some("orders/create"),
        "an order placed"
    ),
    sample!(
        "slack.url_verification",
        "slack",
        None,
        "the challenge Slack sends when an endpoint is set"
    ),
    sample!(
        "slack.app_mention",
        "slack",
        None,
        "an Events API callback: the app mentioned"
    ),
];

/// The sample named `name`.
pub fn find(name: &str) -> Option<&'static Sample> {
    SAMPLES.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Reading, Rules, Source};

    /// The headers a sender of `sample` would add that carry its id and type.
    fn headers_for(sample: &Sample) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        let mut set = |name: &'static str, value: &str| {
            headers.insert(name, value.parse().unwrap());
        };
        match sample.source {
            "github" => {
                set("x-github-delivery", "d1");
                set("x-github-event", sample.event.unwrap());
            }
            "shopify" => {
                set("x-shopify-webhook-id", "s1");
                set("x-shopify-topic", sample.event.unwrap());
            }
            "standard" => set("webhook-id", "msg_1"),
            _ => {}
        }
        headers
    }

    #[test]
    fn every_sample_is_read_by_its_source() {
        for sample in SAMPLES {
            let source = Source::parse(sample.source, &Rules::default()).unwrap();
            let reading = source.read(&headers_for(sample), sample.body.as_bytes());
            match reading {
                Ok(Reading::Event(event)) => {
                    assert!(!event.id.is_empty(), "{}", sample.name);
                    let expected = match sample.name {
                        "github.pull_request" => "pull_request.opened",
                        "slack.app_mention" => "event_callback",
                        name => sample.event.unwrap_or(&name[sample.source.len() + 1..]),
                    };
                    assert_eq!(event.event_type, expected, "{}", sample.name);
                }
                Ok(Reading::Challenge(c)) => {
                    assert_eq!(sample.name, "slack.url_verification", "{c}")
                }
                Ok(Reading::SslCheck) => panic!("{}: read as an ssl_check", sample.name),
                Err(e) => panic!("{}: {e}", sample.name),
            }
        }
    }
}
