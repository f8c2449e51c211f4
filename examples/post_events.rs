//! A fast load client for `scripts/bench-memory.sh`, `bench-instructions.sh` and
//! `bench-sources.sh`: posts exactly `--count` distinct events of about 120 bytes (ids
//! `--first-id` upward) to `--url` over `--connections` keep-alive connections, and fails
//! unless every answer is a 200 that is not a duplicate. Plain HTTP/1.1 on a TCP stream, so
//! the client costs little next to the server. `--as github` posts GitHub deliveries of
//! the same size, signed with `--secret`; `--as record` a flat object of 20 members for a
//! `schema:FILE` source (`--id-from /id`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Post COUNT distinct events to a hookrelay receiver
#[derive(Parser)]
struct Args {
    /// Receiver, e.g. http://127.0.0.1:5000/webhook
    #[arg(long, value_name = "URL")]
    url: url::Url,

    /// Events to post
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    count: u64,

    /// event_id of the first event; the others follow it
    #[arg(long, default_value_t = 1, value_name = "ID")]
    first_id: u64,

    /// Keep-alive connections posting in parallel
    #[arg(long, default_value_t = 32, value_name = "N")]
    connections: u64,

    /// What to post: the event model, GitHub deliveries, or 20-member records
    #[arg(long = "as", value_enum, default_value_t = Kind::Event)]
    kind: Kind,

    /// GitHub's secret, for --as github
    #[arg(long, default_value = "bench-secret")]
    secret: String,

    /// An extra request header, 'Name: value', sent with every event (repeatable)
    #[arg(long = "header", value_name = "HEADER")]
    headers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    Event,
    Github,
    Record,
}

/// The body and the extra headers of event `id`.
fn request_of(kind: Kind, id: u64, secret: &hookrelay::alert::signing::Secret) -> (String, String) {
    match kind {
        Kind::Event => (
            format!(
                r#"{{"event_id": {id}, "timestamp": "2023-10-05T12:34:56Z", "event_type": "notification", "description": "Event description"}}"#
            ),
            String::new(),
        ),
        Kind::Github => {
            let body = format!(
                r#"{{"action": "opened", "number": {id}, "sender": {{"login": "octocat"}}, "repository": {{"name": "hello"}}}}"#
            );
            let signature = hookrelay::alert::signing::github_signature(secret, body.as_bytes());
            let headers = format!(
                "X-GitHub-Event: issues\r\nX-GitHub-Delivery: 5f9a2c1e-{id:012}\r\nX-Hub-Signature-256: {signature}\r\n"
            );
            (body, headers)
        }
        Kind::Record => {
            let mut body = format!(r#"{{"id": "r-{id}""#);
            for i in 1..20 {
                if i % 2 == 0 {
                    body.push_str(&format!(r#", "f{i}": {i}"#));
                } else {
                    body.push_str(&format!(r#", "f{i}": "v{i}""#));
                }
            }
            body.push('}');
            (body, String::new())
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let host = args.url.host_str().unwrap_or("127.0.0.1").to_string();
    let port = args.url.port_or_known_default().unwrap_or(80);
    let path = args.url.path().to_string();
    let next = Arc::new(AtomicU64::new(0));
    let secret = hookrelay::alert::signing::Secret::raw(&args.secret)?;
    let kind = args.kind;
    let extra: Arc<str> = args
        .headers
        .iter()
        .map(|h| format!("{h}\r\n"))
        .collect::<String>()
        .into();
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (host, path, next) = (host.clone(), path.clone(), Arc::clone(&next));
        let secret = secret.clone();
        let extra = Arc::clone(&extra);
        let (count, first_id) = (args.count, args.first_id);
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            let mut buf = Vec::with_capacity(4096);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(());
                }
                let (body, headers) = request_of(kind, first_id + i, &secret);
                let request = format!(
                    "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\n{extra}\r\n{body}",
                    body.len()
                );
                stream.write_all(request.as_bytes()).await?;
                let answer = read_response(&mut stream, &mut buf).await?;
                if !answer.starts_with("HTTP/1.1 200") || answer.contains("\"duplicate\"") {
                    anyhow::bail!("event {} was not accepted as new: {answer}", first_id + i);
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "posted {} events in {secs:.1}s ({:.0}/s)",
        args.count,
        args.count as f64 / secs
    );
    Ok(())
}

/// Reads one response (headers and a Content-Length body) and returns it as text.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<String> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Ok(String::from_utf8_lossy(&buf[..end + 4 + length]).into_owned());
            }
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            anyhow::bail!("the server closed the connection");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
