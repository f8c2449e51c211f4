//! The HMAC-SHA256 every signed request pays, timed: `hmac` + `sha2` (what hookrelay signs
//! and verifies with, keyed once per secret and cloned per request as `Secret` does)
//! against `ring::hmac` (assembly; the ring rustls already builds), and plain SHA-256 from
//! both, over bodies of 120 bytes (the benches' GitHub delivery), 1 KiB and 16 KiB. Times
//! are this thread's CPU time (`/proc/thread-self/schedstat`), best of 7, so that other
//! processes on a shared machine do not stretch them. Prints whether the CPU has the SHA
//! extensions; build with `RUSTFLAGS='--cfg sha2_backend="soft"'` (and another
//! `CARGO_TARGET_DIR`) for `sha2`'s portable code. Linux only.
//!
//! `cargo run --release --example hmac_timing`

use std::hint::black_box;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Nanoseconds this thread has run on a CPU.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("/proc/thread-self/schedstat")
}

fn time(name: &str, size: usize, n: u32, mut f: impl FnMut() -> [u8; 32]) {
    for _ in 0..n / 10 {
        black_box(f());
    }
    let mut best = f64::MAX;
    for _ in 0..7 {
        let start = cpu_ns();
        for _ in 0..n {
            black_box(f());
        }
        best = best.min((cpu_ns() - start) as f64 / f64::from(n));
    }
    println!(
        "{name:<12} {size:>6} B {best:>9.1} ns {:>6.0} MB/s",
        size as f64 / best * 1e3
    );
}

fn main() {
    let secret = b"bench-secret";
    let keyed = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    let ring_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    println!(
        "CPU with SHA extensions: {}",
        std::arch::is_x86_feature_detected!("sha")
    );
    for size in [120usize, 1024, 16 * 1024] {
        let body: Vec<u8> = (0..size).map(|i| b"{\"a\": 12345}"[i % 12]).collect();
        let mut mac = keyed.clone();
        mac.update(&body);
        assert_eq!(
            mac.finalize().into_bytes().as_slice(),
            ring::hmac::sign(&ring_key, &body).as_ref(),
            "both compute the same MAC"
        );
        let n = (20_000_000 / (size as u32 + 200)).max(1000);
        time("hmac+sha2", size, n, || {
            let mut mac = keyed.clone();
            mac.update(black_box(&body));
            mac.finalize().into_bytes().into()
        });
        time("ring::hmac", size, n, || {
            let tag = ring::hmac::sign(&ring_key, black_box(&body));
            tag.as_ref().try_into().expect("32 bytes")
        });
        time("sha2", size, n, || Sha256::digest(black_box(&body)).into());
        time("ring digest", size, n, || {
            let digest = ring::digest::digest(&ring::digest::SHA256, black_box(&body));
            digest.as_ref().try_into().expect("32 bytes")
        });
    }
}
