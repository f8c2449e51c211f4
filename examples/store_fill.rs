//! Fills the memory store directly, without HTTP, and times every insert: what a large
//! `--max-events` costs while the store fills and once it evicts (`benches/README.md`,
//! "The tail at every store size"). Each event is ~120 bytes with the headers
//! `scripts/bench-ingest.sh` sends; prints the slowest inserts, how many took over 100 µs
//! and over 1 ms, the minor page faults and the resident memory per kept event.
//!
//! `cargo run --release --example store_fill -- --max-events 1000000 --count 2000000`

use std::time::{Duration, Instant};

use clap::Parser;
use hookrelay::server::headers::Headers;
use hookrelay::server::memory::MemoryStore;
use hookrelay::server::store::{EventStore, NewEvent, model_id};

/// The binary's allocator, so that memory is laid out as in `hookrelay serve`.
#[global_allocator]
static ALLOCATOR: hookrelay::alloc::MiMalloc = hookrelay::alloc::MiMalloc;

/// Fill a memory store and time each insert
#[derive(Parser)]
struct Args {
    /// The store's capacity
    #[arg(long, default_value_t = 1_000_000)]
    max_events: usize,

    /// Events to insert (more than --max-events: the rest evict)
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,

    /// Without the request headers
    #[arg(long)]
    no_headers: bool,
}

fn minor_faults() -> i64 {
    // SAFETY: getrusage writes the struct it is given.
    unsafe {
        let mut usage = std::mem::zeroed::<libc_rusage::Rusage>();
        libc_rusage::getrusage(0, &mut usage);
        usage.ru_minflt
    }
}

/// The one libc call this needs, declared by hand (RUSAGE_SELF = 0).
mod libc_rusage {
    #[repr(C)]
    pub struct Rusage {
        pub ru_utime: [i64; 2],
        pub ru_stime: [i64; 2],
        pub ru_maxrss: i64,
        pub ru_ixrss: i64,
        pub ru_idrss: i64,
        pub ru_isrss: i64,
        pub ru_minflt: i64,
        pub rest: [i64; 9],
    }
    unsafe extern "C" {
        pub fn getrusage(who: i32, usage: *mut Rusage) -> i32;
    }
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    hookrelay::alloc::no_transparent_huge_pages();
    let store = MemoryStore::new(args.max_events, 1_000_000);
    let rss0 = rss_bytes();
    let faults0 = minor_faults();
    let mut times: Vec<Duration> = Vec::with_capacity(args.count as usize);
    let mut slowest: Vec<(Duration, u64)> = Vec::new();
    let start = Instant::now();
    for n in 1..=args.count {
        let body = format!(
            r#"{{"event_id": {n}, "timestamp": "2023-10-05T12:34:56Z", "event_type": "notification", "description": "Event description"}}"#
        );
        let id = model_id(n as i64);
        let length = body.len().to_string();
        let headers = if args.no_headers {
            Headers::default()
        } else {
            Headers::from_pairs([
                ("host", &b"127.0.0.1:40123"[..]),
                ("content-type", b"application/json"),
                ("content-length", length.as_bytes()),
            ])
        };
        let event = NewEvent {
            id: &id,
            event_id: Some(n as i64),
            event_type: "notification",
            body: body.as_bytes(),
            headers,
            signature: None,
            targets: &[],
        };
        let t0 = Instant::now();
        rt.block_on(store.insert(event)).expect("insert");
        let took = t0.elapsed();
        times.push(took);
        if took > Duration::from_micros(500) {
            slowest.push((took, n));
        }
    }
    let total = start.elapsed();
    let faults = minor_faults() - faults0;
    let rss = rss_bytes().saturating_sub(rss0);
    let kept = args.count.min(args.max_events as u64);
    let mut sorted = times.clone();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q) as usize];
    let over = |d: Duration| times.iter().filter(|t| **t > d).count();
    println!(
        "max-events {} count {} headers {}: total {:.2?} ({:.0} ns/insert), p50 {:.2?} p99 {:.2?} p99.99 {:.2?} max {:.2?}; over 100 µs: {}, over 1 ms: {}; minor faults {} ({:.2}/insert); RSS growth {} bytes/kept event",
        args.max_events,
        args.count,
        !args.no_headers,
        total,
        total.as_nanos() as f64 / args.count as f64,
        at(0.5),
        at(0.99),
        at(0.9999),
        sorted[sorted.len() - 1],
        over(Duration::from_micros(100)),
        over(Duration::from_millis(1)),
        faults,
        faults as f64 / args.count as f64,
        rss / kept,
    );
    slowest.sort();
    for (took, n) in slowest.iter().rev().take(8) {
        println!("  insert #{n}: {took:.2?}");
    }
}
