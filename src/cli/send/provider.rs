//! `send --as NAME`: the body as it is, with the headers a provider's own sender puts on a
//! delivery. The delivery
//! id is fresh for each `send` and the same on every retry; timestamps and signatures are
//! made again for each attempt (over the exact bytes sent), as providers do.

use std::process::ExitCode;

use anyhow::bail;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::alert::Delivery;
use crate::alert::signing::{self, MessageId, Secret, Signer};
use crate::cli::input::read_input;
use crate::cli::secret_options::SecretKind;
use crate::source::Scheme;

use super::{SendArgs, deliver, refuse_invalid};

/// `send --as PROVIDER`: the body as it is, with the provider's headers, read first by the
/// same source `serve --source PROVIDER` uses.
pub(super) fn run_as(args: &SendArgs) -> anyhow::Result<ExitCode> {
    let provider = args.provider();
    let name = provider.name();
    if args.event_id.is_some()
        || args.event_type.is_some()
        || args.description.is_some()
        || args.timestamp.is_some()
    {
        bail!(
            "--event-id, --event-type, --description and --timestamp build the model's event; \
             with --as {name} give --file or --sample"
        );
    }
    let (body, sample_event) = match (&args.file, &args.sample) {
        (Some(path), _) => (read_input(path)?, None),
        (None, Some(sample)) => {
            let sample = crate::cli::samples::find(sample)?;
            if sample.source != name && provider != SendAs::Json {
                bail!(
                    "sample {} is written for --as {}, not --as {name}",
                    sample.name,
                    sample.source,
                );
            }
            (sample.body.as_bytes().to_vec(), sample.event)
        }
        (None, None) => bail!("give --file PATH or --sample NAME (hookrelay samples list)"),
    };
    if provider == SendAs::Json {
        return run_json(args, body);
    }
    let scheme = provider.scheme().expect("a provider");
    let kind = if scheme.whsec() {
        SecretKind::Whsec
    } else {
        SecretKind::Raw
    };
    let event = args.event.as_deref().or(sample_event);
    let signing = ProviderHeaders::new(
        provider,
        args.secrets.load(kind)?,
        event,
        args.id.as_deref(),
    )?;
    let mut headers: HeaderMap = args.headers.iter().cloned().collect();
    // Slack's slash commands and interactivity post forms: a body that is not JSON goes
    // out as one unless --header says otherwise.
    let form = crate::source::is_form_text(&body);
    let form_type = HeaderValue::from_static("application/x-www-form-urlencoded");
    if provider == SendAs::Slack && form && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, form_type.clone());
    }
    let source = crate::source::Source::parse(name, &Default::default())?;
    let mut seen = headers.clone();
    seen.extend(signing.for_attempt(&body));
    if provider == SendAs::Slack {
        // The body is read as what it is, a form or JSON, whatever Content-Type --header
        // sends it with: that one goes out as given, to try a receiver with it.
        seen.remove(CONTENT_TYPE);
        if form {
            seen.insert(CONTENT_TYPE, form_type);
        }
    }
    if let Err(invalid) = source.read(&seen, &body) {
        return refuse_invalid(args, &invalid);
    }
    if let Some(id) = signing.id() {
        crate::cli::say!("hookrelay: delivery id {id}");
    }
    let delivery = Delivery {
        endpoint: args.to.clone().into(),
        body: body.into(),
        headers,
    };
    deliver(args, &delivery, |_attempt: u32| {
        signing.for_attempt(&delivery.body)
    })
}

/// `send --as json`: the body as it is, with `Content-Type: application/json` and the
/// `--header`s, for `serve --source json` or `schema:FILE`; with a secret, signed as
/// Standard Webhooks does (as the model's events are), for a receiver that checks. It must
/// be JSON, as those sources require.
fn run_json(args: &SendArgs, body: Vec<u8>) -> anyhow::Result<ExitCode> {
    if args.event.is_some() {
        bail!(
            "--as json has no type header of its own; give the type where the receiver's \
             --type-from looks, in the body or with --header 'NAME: TYPE'"
        );
    }
    let headers: HeaderMap = args.headers.iter().cloned().collect();
    let source = crate::source::Source::parse("json", &Default::default())?;
    if let Err(invalid) = source.read(&headers, &body) {
        return refuse_invalid(args, &invalid);
    }
    let secrets = args.secrets.load(SecretKind::Whsec)?;
    let signed = if secrets.is_empty() {
        if args.id.is_some() {
            bail!(
                "--id names the webhook-id of a signed delivery; --as json without a secret \
                 sends no id header (give the id in the body or with --header)"
            );
        }
        None
    } else {
        let signer = ProviderHeaders::new(SendAs::Standard, secrets, None, args.id.as_deref())?;
        if let Some(id) = signer.id() {
            crate::cli::say!("hookrelay: delivery id {id}");
        }
        Some(signer)
    };
    let delivery = Delivery {
        endpoint: args.to.clone().into(),
        body: body.into(),
        headers,
    };
    deliver(args, &delivery, |_attempt: u32| match &signed {
        Some(signer) => signer.for_attempt(&delivery.body),
        None => HeaderMap::new(),
    })
}

/// The provider `send --as` imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SendAs {
    /// The model, with Standard Webhooks headers when a secret is given
    Event,
    /// X-GitHub-Event, X-GitHub-Delivery, X-Hub-Signature-256
    Github,
    /// Stripe-Signature (t=…,v1=…)
    Stripe,
    /// webhook-id, webhook-timestamp, webhook-signature
    Standard,
    /// X-Shopify-Topic, X-Shopify-Webhook-Id, X-Shopify-Hmac-Sha256
    Shopify,
    /// X-Slack-Request-Timestamp, X-Slack-Signature (v0)
    Slack,
    /// Any JSON body as it is, for serve --source json or schema:FILE (with --secret,
    /// signed as standard)
    Json,
}

impl SendAs {
    /// The name `serve --source` and the samples use.
    pub fn name(self) -> &'static str {
        match self {
            SendAs::Event => "event",
            SendAs::Github => "github",
            SendAs::Stripe => "stripe",
            SendAs::Standard => "standard",
            SendAs::Shopify => "shopify",
            SendAs::Slack => "slack",
            SendAs::Json => "json",
        }
    }

    pub fn scheme(self) -> Option<Scheme> {
        match self {
            SendAs::Event | SendAs::Json => None,
            SendAs::Github => Some(Scheme::Github),
            SendAs::Stripe => Some(Scheme::Stripe),
            SendAs::Standard => Some(Scheme::Standard),
            SendAs::Shopify => Some(Scheme::Shopify),
            SendAs::Slack => Some(Scheme::Slack),
        }
    }

    /// The header that carries the event's type, for the providers that have one.
    fn type_header(self) -> Option<&'static str> {
        match self {
            SendAs::Github => Some("x-github-event"),
            SendAs::Shopify => Some("x-shopify-topic"),
            _ => None,
        }
    }
}

/// The headers of each attempt of one provider delivery.
pub struct ProviderHeaders {
    scheme: Scheme,
    secrets: Vec<Secret>,
    /// The same on every attempt.
    fixed: HeaderMap,
    /// For Standard Webhooks.
    id: MessageId,
}

impl ProviderHeaders {
    /// `event` is the type header's value (`--event`, or the sample's); `id` the delivery
    /// id (`--id`) when not a fresh one.
    pub fn new(
        provider: SendAs,
        secrets: Vec<Secret>,
        event: Option<&str>,
        id: Option<&str>,
    ) -> anyhow::Result<Self> {
        let Some(scheme) = provider.scheme() else {
            bail!("the model's event is sent with its own headers");
        };
        let name = provider.name();
        if secrets.len() > 1 && !matches!(scheme, Scheme::Standard | Scheme::Stripe) {
            let header = match scheme {
                Scheme::Github => signing::HEADER_GITHUB,
                Scheme::Shopify => signing::HEADER_SHOPIFY,
                _ => signing::HEADER_SLACK,
            };
            bail!(
                "--as {name} signs with one secret ({header} carries one signature), got {}; \
                 several are for --as standard and stripe",
                secrets.len()
            );
        }
        let id = match id {
            Some(id) => MessageId::new(id)?,
            None if scheme == Scheme::Standard => {
                MessageId::new(format!("msg_{}", signing::hex(&rand::random::<[u8; 12]>())))?
            }
            None => MessageId::new(fresh_uuid())?,
        };
        let mut fixed = HeaderMap::new();
        let value = |text: &str| {
            HeaderValue::from_str(text).map_err(|_| anyhow::anyhow!("{text:?} cannot be a header"))
        };
        match (provider.type_header(), event) {
            (Some(header), Some(event)) => {
                fixed.insert(HeaderName::from_static(header), value(event)?);
            }
            (Some(header), None) => {
                bail!("--as {name} needs --event TYPE for its {header} header")
            }
            (None, Some(_)) => bail!(
                "--as {name} carries the event's type in the body (/type); --event applies to github and shopify"
            ),
            (None, None) => {}
        }
        match scheme {
            Scheme::Github => fixed.insert("x-github-delivery", value(id.as_str())?),
            Scheme::Shopify => fixed.insert("x-shopify-webhook-id", value(id.as_str())?),
            Scheme::Standard => fixed.insert(signing::HEADER_ID, value(id.as_str())?),
            Scheme::Stripe | Scheme::Slack => None,
        };
        Ok(Self {
            scheme,
            secrets,
            fixed,
            id,
        })
    }

    /// The delivery id this send uses on every attempt, where the provider has one.
    pub fn id(&self) -> Option<&str> {
        matches!(
            self.scheme,
            Scheme::Github | Scheme::Shopify | Scheme::Standard
        )
        .then(|| self.id.as_str())
    }

    /// The headers of one attempt: the fixed ones, and a signature made now.
    pub fn for_attempt(&self, body: &[u8]) -> HeaderMap {
        let mut headers = self.fixed.clone();
        let Some(secret) = self.secrets.first() else {
            return headers;
        };
        let now = signing::now_unix();
        let text = |t: String| HeaderValue::from_str(&t).expect("ASCII by construction");
        match self.scheme {
            Scheme::Github => {
                let signature = signing::github_signature(secret, body);
                headers.insert(signing::HEADER_GITHUB, text(signature));
            }
            Scheme::Stripe => {
                let signature = signing::stripe_signature(&self.secrets, now, body);
                headers.insert(signing::HEADER_STRIPE, text(signature));
            }
            Scheme::Shopify => {
                let signature = signing::shopify_signature(secret, body);
                headers.insert(signing::HEADER_SHOPIFY, text(signature));
            }
            Scheme::Slack => {
                let signature = signing::slack_signature(secret, now, body);
                headers.insert(signing::HEADER_SLACK_TIMESTAMP, HeaderValue::from(now));
                headers.insert(signing::HEADER_SLACK, text(signature));
            }
            Scheme::Standard => {
                let signer = Signer::new(self.secrets.clone()).expect("a secret is given");
                headers.extend(signer.headers_at(&self.id, now, body));
            }
        }
        headers
    }
}

/// A random (version 4) UUID, as GitHub's and Shopify's delivery ids are.
pub fn fresh_uuid() -> String {
    let mut bytes = rand::random::<[u8; 16]>();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = signing::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
