//! `hookrelay endpoints list|add|update|rm|rotate-secret`: manage a running relay's
//! endpoints through its admin API, so scripts need no curl. Exit 0 on success, 1 when
//! the server refuses (its error message and every detail printed), 2 when it cannot be
//! reached.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, Subcommand};
use http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Map, Value, json};

use super::values::parse_duration;

const EXAMPLES: &str = "\
Examples:
  hookrelay endpoints list --server http://127.0.0.1:5000 --admin-token \"$TOKEN\"
  hookrelay endpoints add --url https://acme.example/hooks --name acme --filter-type 'invoice.*'
  hookrelay endpoints update acme --disable
  hookrelay endpoints rotate-secret acme --grace 1h
  hookrelay endpoints rm acme --json";

/// Manage the endpoints of a running hookrelay (its admin API)
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct EndpointsArgs {
    #[command(subcommand)]
    action: Action,
    /// The server's base URL (its admin listener)
    #[arg(
        long,
        global = true,
        env = "HOOKRELAY_SERVER",
        default_value = "http://127.0.0.1:5000",
        value_name = "URL"
    )]
    server: url::Url,
    /// The admin token (--admin-token of serve), sent as a Bearer token
    #[arg(
        long,
        global = true,
        env = "HOOKRELAY_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// Print the server's JSON answer instead of text
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List the endpoints
    #[command(after_help = "Example:\n  hookrelay endpoints list --json")]
    List,
    /// Create an endpoint; prints its id and secret
    #[command(
        after_help = "Example:\n  hookrelay endpoints add --url https://acme.example/hooks --name acme --filter-type 'invoice.*'"
    )]
    Add(Fields),
    /// Change an endpoint (by id or name): only the fields given
    #[command(after_help = "Example:\n  hookrelay endpoints update acme --rate-limit 20 --disable")]
    Update {
        /// The endpoint's id (ep_…) or name
        id: String,
        #[command(flatten)]
        fields: Fields,
        /// Let its deliveries flow again
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
    },
    /// Delete an endpoint; its waiting deliveries are dropped
    #[command(after_help = "Example:\n  hookrelay endpoints rm acme")]
    Rm {
        /// The endpoint's id (ep_…) or name
        id: String,
    },
    /// Make a new secret; the old one signs beside it for the grace period
    #[command(after_help = "Example:\n  hookrelay endpoints rotate-secret acme --grace 1h")]
    RotateSecret {
        /// The endpoint's id (ep_…) or name
        id: String,
        /// How long the old secret keeps signing
        #[arg(long, default_value = "24h", value_parser = parse_duration, value_name = "DURATION")]
        grace: Duration,
    },
}

#[derive(Debug, Args)]
struct Fields {
    /// Where deliveries go
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// A unique name
    #[arg(long)]
    name: Option<String>,
    /// An event-type glob it takes (repeatable; none: every type)
    #[arg(long = "filter-type", value_name = "GLOB")]
    filter_types: Vec<String>,
    /// An extra header 'Name: value' (repeatable)
    #[arg(long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Deliveries per second, at most
    #[arg(long, value_name = "N")]
    rate_limit: Option<u64>,
    /// A description
    #[arg(long)]
    description: Option<String>,
    /// Its deliveries wait
    #[arg(long)]
    disable: bool,
}

impl Fields {
    fn document(&self) -> anyhow::Result<Map<String, Value>> {
        let mut doc = Map::new();
        if let Some(url) = &self.url {
            doc.insert("url".into(), json!(url));
        }
        if let Some(name) = &self.name {
            doc.insert("name".into(), json!(name));
        }
        if !self.filter_types.is_empty() {
            doc.insert("filter_types".into(), json!(self.filter_types));
        }
        if !self.headers.is_empty() {
            let mut headers = Map::new();
            for h in &self.headers {
                let (name, value) = h
                    .split_once(':')
                    .with_context(|| format!("--header {h:?}: expected 'Name: value'"))?;
                headers.insert(name.trim().into(), json!(value.trim()));
            }
            doc.insert("headers".into(), Value::Object(headers));
        }
        if let Some(rate) = self.rate_limit {
            doc.insert("rate_limit".into(), json!(rate));
        }
        if let Some(description) = &self.description {
            doc.insert("description".into(), json!(description));
        }
        if self.disable {
            doc.insert("disabled".into(), json!(true));
        }
        Ok(doc)
    }
}

pub fn run(args: EndpointsArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_async(args))
}

fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

async fn run_async(args: EndpointsArgs) -> anyhow::Result<ExitCode> {
    let (method, path, body) = match &args.action {
        Action::List => (Method::GET, "/endpoints".to_owned(), None),
        Action::Add(fields) => (
            Method::POST,
            "/endpoints".to_owned(),
            Some(fields.document()?),
        ),
        Action::Update { id, fields, enable } => {
            let mut doc = fields.document()?;
            if *enable {
                doc.insert("disabled".into(), json!(false));
            }
            (
                Method::PATCH,
                format!("/endpoints/{}", segment(id)),
                Some(doc),
            )
        }
        Action::Rm { id } => (Method::DELETE, format!("/endpoints/{}", segment(id)), None),
        Action::RotateSecret { id, grace } => (
            Method::POST,
            format!(
                "/endpoints/{}/secret/rotate?grace_seconds={}",
                segment(id),
                grace.as_secs()
            ),
            None,
        ),
    };
    let base = args.server.as_str().trim_end_matches('/');
    let uri: http::Uri = format!("{base}{path}")
        .parse()
        .with_context(|| format!("--server {base}: not a usable URL"))?;
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = &args.admin_token {
        // A blank variable or flag: sending `Bearer ` would only earn a 401 about headers.
        if token.trim().is_empty() {
            anyhow::bail!(
                "--admin-token (or HOOKRELAY_ADMIN_TOKEN) is empty: give the token of the \
                 server's --admin-token, or leave it out for a server without one"
            );
        }
        let value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .context("--admin-token: not a valid header value")?;
        request = request.header(header::AUTHORIZATION, value);
    }
    let payload = match &body {
        Some(doc) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Bytes::from(serde_json::to_vec(doc)?)
        }
        None => Bytes::new(),
    };
    let request = request.body(Full::new(payload))?;

    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(https);
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .map_err(|_| anyhow::anyhow!("{base}: no answer within 30 s"))?
        .with_context(|| format!("cannot reach {base}"))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .context("reading the answer")?
        .to_bytes();
    // Every answer of hookrelay's admin API is a JSON object, and every refusal names its
    // `error`: anything else came from something that is not a hookrelay (a web server, a
    // proxy's error page), and its body is no message for the user.
    let answer: Value = match serde_json::from_slice(&bytes) {
        Ok(answer @ Value::Object(_)) if status.is_success() || answer.get("error").is_some() => {
            answer
        }
        _ => anyhow::bail!(
            "{base}{path} answered {} with something that is not a hookrelay's answer; \
             is --server the address of a hookrelay serve (its admin listener if it has one)?",
            status.as_u16()
        ),
    };
    if !status.is_success() {
        crate::cli::say!(
            "hookrelay: the server refused ({}): {}",
            status.as_u16(),
            answer["message"].as_str().unwrap_or("no message")
        );
        if status == http::StatusCode::UNAUTHORIZED && args.admin_token.is_none() {
            crate::cli::say!(
                "hookrelay: the server needs an admin token: give it with --admin-token TOKEN \
                 or HOOKRELAY_ADMIN_TOKEN"
            );
        }
        for detail in answer["details"].as_array().into_iter().flatten() {
            crate::cli::say!(
                "  {}: {}",
                detail["field"].as_str().unwrap_or(""),
                detail["message"].as_str().unwrap_or("")
            );
        }
        return Ok(ExitCode::from(1));
    }
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&answer)?)
    } else {
        describe(&args.action, &answer)
    };
    super::print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The answer as text for a person.
fn describe(action: &Action, answer: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let line = |e: &Value| {
        let types = e["filter_types"]
            .as_array()
            .filter(|t| !t.is_empty())
            .map(|t| t.iter().map(s).collect::<Vec<_>>().join(","))
            .unwrap_or_else(|| "*".into());
        let state = if e["disabled"] == true {
            "disabled"
        } else {
            "enabled"
        };
        format!(
            "{}\t{}\t{}\t{}\t{}\n",
            s(&e["id"]),
            s(&e["name"]),
            s(&e["url"]),
            types,
            state
        )
    };
    match action {
        // With where each is defined: `options` (serve's --forward-to/--route, changed
        // only there) or `store`.
        Action::List => answer["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| format!("{}\t{}\n", line(e).trim_end(), s(&e["defined_by"])))
            .collect(),
        Action::Add(_) => format!("{}secret\t{}\n", line(answer), s(&answer["secret"])),
        Action::Update { .. } => line(answer),
        Action::Rm { .. } => format!(
            "deleted {} ({} waiting deliveries dropped)\n",
            s(&answer["id"]),
            answer["dropped"]
        ),
        // One line for each previous secret still signing, newest first.
        Action::RotateSecret { .. } => {
            let mut text = format!("secret\t{}\n", s(&answer["secret"]));
            let previous = answer["previous_secrets"].as_array().cloned();
            let until: Vec<String> = match previous.filter(|p| !p.is_empty()) {
                Some(previous) => previous.iter().map(|p| s(&p["expires_at"])).collect(),
                // `null` when none signs on (a rotation with `--grace 0s`): no line.
                None => answer["previous_secret_expires_at"]
                    .as_str()
                    .map(str::to_string)
                    .into_iter()
                    .collect(),
            };
            for at in until {
                text.push_str(&format!("previous secret signs until\t{at}\n"));
            }
            text
        }
    }
}
