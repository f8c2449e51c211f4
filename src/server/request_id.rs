//! Request ids: each request carries the client's `X-Request-Id` (when it is a sensible
//! one) or a new random id. The id is echoed in the response and is a field of the span
//! that every log line written while handling the request belongs to.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::Response;
use tracing::Instrument;
use tracing::level_filters::LevelFilter;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-given id that is kept; a longer one is replaced.
const MAX_LEN: usize = 128;

tokio::task_local! {
    /// The id of the request being handled when it runs without a span of its own.
    static UNSPANNED: HeaderValue;
}

/// What is kept of a request while it is handled: its id, and, when debug lines are
/// logged, what the line that closes the request shows.
///
/// When debug lines are logged, the request runs inside a `request` span whose `id` field
/// every line of the request carries. Otherwise a request writes a line only when
/// something goes wrong, so making and closing a span for each one (the largest cost of
/// this part) would be wasted: the id is kept in a task-local instead, and [`in_span`]
/// makes the same span around the rare line that is written.
pub struct RequestScope {
    id: HeaderValue,
    /// Boxed: the scope is held in every request's future, which hyper moves, and this is
    /// only there when debug lines are logged.
    logged: Option<Box<Logged>>,
}

struct Logged {
    method: Method,
    path: String,
    started: Instant,
}

impl RequestScope {
    /// The client's `X-Request-Id` when it is a sensible one, or a new id.
    pub fn of(request: &Request) -> Self {
        let id = request
            .headers()
            .get(&HEADER)
            .filter(|v| acceptable(v))
            .cloned()
            .unwrap_or_else(generate);
        let logged = (LevelFilter::current() >= LevelFilter::DEBUG).then(|| {
            Box::new(Logged {
                method: request.method().clone(),
                path: request.uri().path().to_owned(),
                started: Instant::now(),
            })
        });
        Self { id, logged }
    }

    /// Runs the handling of an admitted request (or makes the answer of a refused one)
    /// under the request's id, and echoes the id in the answer. A refusal is a function
    /// rather than the answer itself so that the future of every request does not carry
    /// the space of a whole response.
    pub async fn run(
        self,
        handling: Result<impl Future<Output = Response>, fn() -> Response>,
    ) -> Response {
        let Self { id, logged } = self;
        let (mut response, id) = match (handling, logged) {
            (Err(refused), _) => (refused(), id),
            (Ok(handling), Some(logged)) => (in_its_span(&id, *logged, handling).await, id),
            (Ok(handling), None) => {
                let running = UNSPANNED.scope(id, handling);
                tokio::pin!(running);
                let response = running.as_mut().await;
                let id = running
                    .as_mut()
                    .take_value()
                    .expect("the id is given back once");
                (response, id)
            }
        };
        response.headers_mut().insert(HEADER, id);
        response
    }
}

async fn in_its_span(
    id: &HeaderValue,
    logged: Logged,
    handling: impl Future<Output = Response>,
) -> Response {
    let span = span(id);
    let response = handling.instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            method = %logged.method,
            path = logged.path,
            status = response.status().as_u16(),
            elapsed_us = logged.started.elapsed().as_micros() as u64,
            "request finished"
        );
    });
    response
}

/// The span of one request; only the id is a field, as formatting span fields costs on
/// every request that has a span.
fn span(id: &HeaderValue) -> tracing::Span {
    tracing::info_span!("request", id = %id.to_str().unwrap_or_default())
}

/// Runs `log` (which writes a log line) so that the line names the request being handled:
/// inside the request's span, made for this line when the request runs without one.
/// Outside a request, or when the span is already entered, it just runs `log`.
pub fn in_span<R>(log: impl FnOnce() -> R) -> R {
    match UNSPANNED.try_with(span) {
        Ok(span) => span.in_scope(log),
        Err(_) => log(),
    }
}

/// 1 to 128 visible ASCII characters: safe to echo and to log.
fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// 32 random hex digits, written without the formatting machinery and eight at a time
/// (it is on every request that brings no id of its own).
fn generate() -> HeaderValue {
    let n = rand::random::<u128>();
    let mut id = [0u8; 32];
    for (i, digits) in id.chunks_exact_mut(8).enumerate() {
        let word = (n >> (96 - 32 * i)) as u32;
        digits.copy_from_slice(&hex8(word));
    }
    // SAFETY: lower-case hex digits only, all of them visible ASCII: a valid header value.
    unsafe { HeaderValue::from_maybe_shared_unchecked(bytes::Bytes::copy_from_slice(&id)) }
}

/// The eight lower-case hex digits of `word`, most significant first: its nibbles spread
/// one to a byte, then each turned into its digit with no table and no branch.
fn hex8(word: u32) -> [u8; 8] {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    let mut x = u64::from(word);
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // 1 in each byte whose nibble is 10 or more, which then skips from '9' to 'a'.
    let letters = ((x + ONES * 6) >> 4) & ONES;
    (x + ONES * u64::from(b'0') + letters * u64::from(b'a' - b'9' - 1)).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::log_lines::LogLines;

    #[test]
    fn ids_are_kept_only_when_short_and_visible() {
        assert!(acceptable(&HeaderValue::from_static("abc-123_XYZ.42")));
        assert!(!acceptable(&HeaderValue::from_static("")));
        assert!(!acceptable(&HeaderValue::from_static("has space")));
        assert!(!acceptable(
            &HeaderValue::from_str(&"a".repeat(129)).unwrap()
        ));
        let made = generate();
        assert_eq!(made.len(), 32);
        assert!(
            made.as_bytes().iter().all(u8::is_ascii_hexdigit),
            "{made:?}"
        );
        assert!(acceptable(&made));
        assert_ne!(made, generate());
        for word in [
            0,
            9,
            10,
            15,
            0x0123_4567,
            0x89ab_cdef,
            0xdead_beef,
            u32::MAX,
        ] {
            assert_eq!(hex8(word), *format!("{word:08x}").as_bytes());
        }
    }

    /// A subscriber at `level` writing plain lines into the returned buffer, and a runtime
    /// to run requests on.
    fn capture(
        level: tracing::Level,
    ) -> (LogLines, impl tracing::Subscriber, tokio::runtime::Runtime) {
        let lines = LogLines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        (lines, subscriber, runtime)
    }

    /// Log lines written while one request (id `order-7`) is handled by a route that logs
    /// a warning through [`in_span`], with the subscriber at `level`.
    fn log_of_one_request(level: tracing::Level) -> String {
        use axum::routing::get;
        use tower::ServiceExt;

        let (lines, subscriber, runtime) = capture(level);
        let app = axum::Router::new().route(
            "/",
            get(|| async {
                tokio::task::yield_now().await;
                in_span(|| tracing::warn!("something went wrong"));
                "done"
            }),
        );
        let response = tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(async {
                let request = axum::http::Request::get("/")
                    .header(&HEADER, "order-7")
                    .body(axum::body::Body::empty())
                    .unwrap();
                let scope = RequestScope::of(&request);
                scope
                    .run(Ok(async { app.oneshot(request).await.unwrap() }))
                    .await
            })
        });
        assert_eq!(response.headers()[&HEADER], "order-7");
        lines.text()
    }

    #[test]
    fn a_warning_names_its_request_at_the_default_level() {
        let log = log_of_one_request(tracing::Level::INFO);
        let line = log
            .lines()
            .find(|l| l.contains("something went wrong"))
            .unwrap_or_else(|| panic!("{log}"));
        assert!(line.contains("request{id=order-7}"), "{line}");
        assert!(!log.contains("request finished"), "{log}");
    }

    #[test]
    fn with_debug_lines_every_line_of_the_request_is_in_its_span() {
        let log = log_of_one_request(tracing::Level::DEBUG);
        let warning = log
            .lines()
            .find(|l| l.contains("something went wrong"))
            .unwrap_or_else(|| panic!("{log}"));
        assert!(warning.contains("request{id=order-7}"), "{warning}");
        // Made once, not once more for the warning.
        assert_eq!(warning.matches("request{").count(), 1, "{warning}");
        let finished = log
            .lines()
            .find(|l| l.contains("request finished"))
            .unwrap_or_else(|| panic!("{log}"));
        assert!(finished.contains("request{id=order-7}"), "{finished}");
    }

    #[test]
    fn in_span_makes_the_span_only_inside_a_request_without_one() {
        let (lines, subscriber, runtime) = capture(tracing::Level::INFO);
        tracing::subscriber::with_default(subscriber, || {
            in_span(|| tracing::warn!("not in a request"));
            let id = HeaderValue::from_static("lazy-1");
            runtime.block_on(UNSPANNED.scope(id, async {
                in_span(|| tracing::warn!("in a request"));
            }));
        });
        let log = lines.text();
        let line = |text: &str| log.lines().find(|l| l.ends_with(text)).unwrap().to_owned();
        assert!(!line(" not in a request").contains("request{"), "{log}");
        assert!(
            line(": in a request").contains("request{id=lazy-1}"),
            "{log}"
        );
    }
}
