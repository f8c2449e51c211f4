//! `/metrics` read strictly, as Prometheus tooling reads it: every family has HELP and
//! TYPE, names are valid, counters end in `_total`, and no family's name is another's plus
//! a suffix that Prometheus client libraries strip (a counter and a gauge would then read
//! as one family).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::support::{DEADLINE, HeldPort, Served, metric, post_json};

/// Suffixes that Prometheus parsers strip from a sample's name to find its family.
const SUFFIXES: [&str; 6] = ["_total", "_count", "_sum", "_bucket", "_created", "_info"];

#[derive(Default, Debug)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The families of a metrics text by name, and the sample names; panics on a line that is
/// neither a comment, a sample nor empty.
fn parse(text: &str) -> (BTreeMap<String, Family>, BTreeSet<String>) {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut samples = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let family = families.entry(name.to_string()).or_default();
            assert!(family.help.is_none(), "a second HELP for {name}");
            family.help = Some(help.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            let family = families.entry(name.to_string()).or_default();
            assert!(family.kind.is_none(), "a second TYPE for {name}");
            family.kind = Some(kind.to_string());
        } else {
            assert!(!line.starts_with('#'), "an unknown comment: {line:?}");
            let name = line.split(['{', ' ']).next().expect("a sample name");
            let value = line.rsplit(' ').next().expect("a value");
            assert!(value.parse::<f64>().is_ok(), "not a sample: {line:?}");
            samples.insert(name.to_string());
        }
    }
    (families, samples)
}

#[tokio::test]
async fn metrics_parse_strictly_with_help_and_type_for_every_family() {
    // A target that refuses connections: the relay's attempt series and histogram fill.
    let refusing = HeldPort::bind();
    let server = Served::start(&[
        "--forward-to",
        &refusing.url("/hook"),
        "--retry-schedule",
        "1s",
    ]);
    let event =
        r#"{"event_id":1,"timestamp":"2023-10-05T12:34:56","event_type":"t","description":"d"}"#;
    let (status, _) = post_json(&server.url("/webhook"), event).await;
    assert_eq!(status, 200);
    let http = reqwest::Client::new();
    let started = Instant::now();
    let text = loop {
        let text = crate::support::get_text(&http, &server.url("/metrics")).await;
        let failed = r#"hookrelay_delivery_attempts_total{result="retryable_failure"}"#;
        if metric(&text, failed).unwrap_or(0.0) >= 1.0 {
            break text;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no failed attempt counted:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };

    let (families, samples) = parse(&text);

    for (name, family) in &families {
        assert!(valid_name(name), "invalid family name {name:?}");
        let help = family.help.as_deref().unwrap_or("");
        assert!(!help.is_empty(), "{name} has no HELP text");
        let kind = family
            .kind
            .as_deref()
            .unwrap_or_else(|| panic!("{name} has no TYPE"));
        if kind == "counter" {
            assert!(
                name.ends_with("_total"),
                "counter {name} does not end in _total"
            );
        }
        for suffix in SUFFIXES {
            let clash = format!("{name}{suffix}");
            assert!(
                !families.contains_key(&clash),
                "{clash} reads as the family {name} to Prometheus client libraries"
            );
        }
    }
    for sample in &samples {
        assert!(valid_name(sample), "invalid sample name {sample:?}");
        let family = SUFFIXES
            .iter()
            .filter_map(|s| sample.strip_suffix(s))
            .find(|base| {
                families
                    .get(*base)
                    .is_some_and(|f| f.kind.as_deref() == Some("histogram"))
            })
            .unwrap_or(sample);
        assert!(
            families.contains_key(family),
            "{sample} has no HELP/TYPE family"
        );
    }
    // What this release renamed: the gauge no longer shares the counter's base name.
    assert_eq!(
        families["hookrelay_deliveries_in_state"].kind.as_deref(),
        Some("gauge")
    );
    assert!(!families.contains_key("hookrelay_deliveries"));
    assert_eq!(
        families["hookrelay_delivery_attempt_duration_seconds"]
            .kind
            .as_deref(),
        Some("histogram")
    );
}
