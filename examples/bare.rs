//! The baseline for `scripts/bench-ingest.sh`: a bare axum handler that answers 200 to
//! `POST /webhook` without reading the body. It runs on the same runtime setup as
//! `hookrelay serve` (`--workers N` worker threads, default the number of CPUs) and prints
//! the same first line, `listening on http://ADDR`, so the two load identically.
//! `--read-body` makes it read the whole body first: that shows what reading a body through
//! axum and hyper costs by itself, apart from anything hookrelay does with it.
//! `--count-webhook-ids` makes it a counting sink for `scripts/bench-relay.sh`: it notes
//! each request's `webhook-id`, and `GET /counts` answers `REQUESTS DISTINCT_IDS`, so
//! deliveries made more than once (at least once, same `webhook-id`) show apart from the
//! events delivered.

use std::collections::HashSet;
use std::hint::black_box;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use clap::Parser;

/// Answer 200 to POST /webhook without reading the body
#[derive(Parser)]
struct Args {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    host: String,

    /// Port to listen on; 0 picks a free one
    #[arg(long, default_value_t = 5000, value_name = "PORT")]
    port: u16,

    /// Worker threads of the runtime [default: the number of CPUs]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,

    /// Read the whole body before answering
    #[arg(long)]
    read_body: bool,

    /// Note every request's webhook-id; GET /counts answers "REQUESTS DISTINCT_IDS"
    #[arg(long)]
    count_webhook_ids: bool,
}

/// Requests seen and their distinct `webhook-id`s.
#[derive(Default)]
struct Seen {
    requests: u64,
    ids: HashSet<Vec<u8>>,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers {
        runtime.worker_threads(usize::from(n));
    }
    runtime.enable_all().build()?.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{}", listener.local_addr()?)?;
        out.flush()?;
        drop(out);
        let app = if args.count_webhook_ids {
            let seen = Arc::new(Mutex::new(Seen::default()));
            let counts = Arc::clone(&seen);
            Router::new()
                .route(
                    "/webhook",
                    post(move |headers: HeaderMap| async move {
                        let id = headers.get("webhook-id").map(|v| v.as_bytes().to_vec());
                        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                        seen.requests += 1;
                        if let Some(id) = id {
                            seen.ids.insert(id);
                        }
                        "ok"
                    }),
                )
                .route(
                    "/counts",
                    get(move || async move {
                        let seen = counts.lock().unwrap_or_else(|e| e.into_inner());
                        format!("{} {}\n", seen.requests, seen.ids.len())
                    }),
                )
        } else if args.read_body {
            Router::new().route(
                "/webhook",
                post(|body: Bytes| async move {
                    black_box(body);
                    "ok"
                }),
            )
        } else {
            Router::new().route("/webhook", post(|| async { "ok" }))
        };
        axum::serve(listener, app).await
    })
}
