//! The watchdog of one connection: what it knows of the connection's progress, the
//! busy mark a request holds, and the stream that reports bytes read and writes blocked
//! and that lingers at the end of a connection (see [`Watched::poll_shutdown`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// What the watchdog knows of one connection. Times are milliseconds since `start`.
/// The request path only stores times; nothing wakes the watchdog, which looks again at
/// least every `min(header, idle)` (see [`Watch::expired`]), so it never adds a wake-up or
/// a timer reset to a request.
pub(super) struct Watch {
    start: Instant,
    /// Requests being handled (at most one on HTTP/1): from the head being read to the
    /// handler's answer.
    busy: AtomicUsize,
    /// Requests answered so far.
    served: AtomicU64,
    /// Requests handed to a handler so far: an answer head beyond this many is hyper's own
    /// refusal of a request it could not parse (see [`Watched`]).
    started: AtomicU64,
    /// When the connection last became free or made progress: accepted, a handler
    /// answered, or an answer's write went through after being blocked.
    free_since: AtomicU64,
    /// When the first byte of the next request arrived, or `NONE`.
    head_since: AtomicU64,
    /// Since when writing an answer has been blocked on a client that does not read it,
    /// or `NONE`.
    blocked_since: AtomicU64,
    /// Since when the connection, its last answer written, reads what the client still
    /// sends before closing, or `NONE`.
    lingering_since: AtomicU64,
    /// The server is stopping: a connection that ends does not linger.
    stopping: AtomicBool,
    /// Answers being written that go on for as long as the client listens (event
    /// streams): the connection is not idle while one is.
    streaming: AtomicUsize,
}

/// At most this much of what a client still sends after the last answer is read (and
/// thrown away) before the connection is closed; see [`Watched::poll_shutdown`].
pub(super) const LINGER_BYTES: u64 = 4 << 20;

const NONE: u64 = u64::MAX;

impl Watch {
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            busy: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            started: AtomicU64::new(0),
            free_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            blocked_since: AtomicU64::new(NONE),
            lingering_since: AtomicU64::new(NONE),
            stopping: AtomicBool::new(false),
            streaming: AtomicUsize::new(0),
        }
    }

    /// The server stops: the connection ends without lingering.
    pub(super) fn stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    fn writing(&self, result: &Poll<io::Result<usize>>) {
        match result {
            Poll::Pending => self.write_blocked(),
            Poll::Ready(Ok(n)) if *n > 0 => self.wrote(),
            Poll::Ready(_) => {}
        }
    }

    /// Whether a request head has begun and not yet reached a handler: a request that has
    /// not started, which the server, stopping, need not wait for.
    pub(super) fn mid_head(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
            && self.streaming.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Acquire) != NONE
    }

    /// Bytes arrived while no request is being handled: a request head has begun.
    fn bytes_read(&self) {
        if self.busy.load(Ordering::Acquire) == 0 && self.head_since.load(Ordering::Acquire) == NONE
        {
            self.head_since.store(self.now(), Ordering::Release);
        }
    }

    /// A write of an answer could not proceed: the client is not reading.
    fn write_blocked(&self) {
        if self.blocked_since.load(Ordering::Acquire) == NONE {
            self.blocked_since.store(self.now(), Ordering::Release);
        }
    }

    /// Bytes of an answer were written. After a block, that is progress: the client reads,
    /// however slowly, and the idle clock starts again.
    fn wrote(&self) {
        if self.blocked_since.load(Ordering::Acquire) != NONE {
            self.blocked_since.store(NONE, Ordering::Release);
            self.free_since.store(self.now(), Ordering::Release);
        }
    }

    /// When the connection is due to be closed, and why; `None` while a request is handled.
    fn deadline(&self, header: Duration, idle: Duration) -> Option<(Instant, &'static str)> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let lingering = self.lingering_since.load(Ordering::Acquire);
        if lingering != NONE {
            // The shorter timeout: what [`Watch::expired`] wakes up in time for.
            return Some((
                self.at(lingering) + header.min(idle),
                "lingered long enough",
            ));
        }
        let blocked = self.blocked_since.load(Ordering::Acquire);
        if blocked != NONE {
            return Some((self.at(blocked) + idle, "response not read"));
        }
        if self.streaming.load(Ordering::Acquire) > 0 {
            return None;
        }
        let head = self.head_since.load(Ordering::Acquire);
        if head != NONE {
            return Some((self.at(head) + header, "request headers too slow"));
        }
        let free = self.at(self.free_since.load(Ordering::Acquire));
        if self.served.load(Ordering::Acquire) == 0 {
            Some((free + header, "no request headers"))
        } else {
            Some((free + idle, "idle"))
        }
    }

    /// Completes when the connection has made no progress for too long.
    ///
    /// Every deadline is the time of some change plus `header` or `idle`, so one set by a
    /// change made while this sleeps is at least `min(header, idle)` after the sleep
    /// began: sleeping never longer than that wakes it in time for any deadline.
    pub(super) async fn expired(&self, header: Duration, idle: Duration) -> &'static str {
        let look_again = header.min(idle);
        loop {
            let now = Instant::now();
            let wake = match self.deadline(header, idle) {
                Some((when, why)) if when <= now => return why,
                Some((when, _)) => when.min(now + look_again),
                None => now + look_again,
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// Marks its connection as writing a stream until dropped with the stream's body.
pub(super) struct Streaming(Arc<Watch>);

impl Busy {
    /// The handler answered with a stream: the connection stays marked until it ends.
    pub(super) fn into_streaming(self) -> Streaming {
        let watch = Arc::clone(&self.0);
        watch.streaming.fetch_add(1, Ordering::AcqRel);
        drop(self);
        Streaming(watch)
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let watch = &self.0;
        watch.free_since.store(watch.now(), Ordering::Release);
        watch.streaming.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Marks its connection busy from the start of a request until its handler answers.
pub(super) struct Busy(Arc<Watch>);

impl Busy {
    pub(super) fn start(watch: Arc<Watch>) -> Self {
        watch.busy.fetch_add(1, Ordering::AcqRel);
        watch.started.fetch_add(1, Ordering::AcqRel);
        watch.head_since.store(NONE, Ordering::Release);
        Self(watch)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let watch = &self.0;
        watch.free_since.store(watch.now(), Ordering::Release);
        watch.served.fetch_add(1, Ordering::AcqRel);
        watch.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A stream (TCP, or TLS over it) that tells its [`Watch`] when bytes arrive and when
/// writes block. `HEADS`: whether bytes arriving on a free connection begin a request
/// head (HTTP/1); on HTTP/2 they may as well be a ping or a settings frame.
///
/// On HTTP/1 it also gives hyper's own refusals the API's one error shape: a request hyper
/// cannot parse (`400`), whose target is too long (`414`) or whose head is too large
/// (`431`) is answered by hyper before any handler runs, with an empty body. Such an answer
/// is the only head written when no request is waiting for one; it is written with a JSON
/// body instead (see [`own_refusal`]).
pub(super) struct Watched<S, const HEADS: bool = true> {
    inner: S,
    watch: Arc<Watch>,
    /// Bytes read and thrown away since the connection began to linger, or `None` before.
    lingered: Option<u64>,
    /// Final answer heads written so far (HTTP/1).
    heads: u64,
    /// hyper's own refusal being written in its JSON form.
    rewrite: Option<Rewrite>,
}

/// The JSON form of one of hyper's refusals, written in place of hyper's bytes.
struct Rewrite {
    bytes: Vec<u8>,
    written: usize,
    /// What hyper is told was written once `bytes` are: all it asked to write.
    claimed: usize,
}

impl<S, const HEADS: bool> Watched<S, HEADS> {
    pub(super) fn new(inner: S, watch: Arc<Watch>) -> Self {
        Self {
            inner,
            watch,
            lingered: None,
            heads: 0,
            rewrite: None,
        }
    }

    /// Looks at the start of a write: whether it begins a final answer head (to be counted
    /// once written); one that answers no request handed to a handler is hyper's own
    /// refusal, set to be rewritten.
    fn look_at_write(&mut self, first: &[u8], claimed: usize) -> bool {
        match answer_status(first) {
            // `100 Continue` and the like are not the answer.
            Some(status) if status >= 200 => {
                if self.heads >= self.watch.started.load(Ordering::Acquire)
                    && let Some(bytes) = own_refusal(status, first)
                {
                    self.rewrite = Some(Rewrite {
                        bytes,
                        written: 0,
                        claimed,
                    });
                }
                true
            }
            _ => false,
        }
    }

    /// Counts an answer head once its write went through.
    fn count_head(&mut self, head: bool, result: &Poll<io::Result<usize>>) {
        if head && matches!(result, Poll::Ready(Ok(n)) if *n > 0) {
            self.heads += 1;
        }
    }
}

impl<S: AsyncWrite + Unpin, const HEADS: bool> Watched<S, HEADS> {
    /// Writes the rewritten refusal; done, hyper is told that its own bytes were written.
    fn poll_rewrite(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(rewrite) = self.rewrite.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while rewrite.written < rewrite.bytes.len() {
            let result =
                Pin::new(&mut self.inner).poll_write(cx, &rewrite.bytes[rewrite.written..]);
            self.watch.writing(&result);
            match std::task::ready!(result)? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                n => rewrite.written += n,
            }
        }
        let claimed = rewrite.claimed;
        self.rewrite = None;
        Poll::Ready(Ok(claimed))
    }
}

/// The status of an HTTP/1 answer head that `bytes` begin with.
fn answer_status(bytes: &[u8]) -> Option<u16> {
    let rest = bytes.strip_prefix(b"HTTP/1.")?;
    let digits = rest.get(2..5)?;
    if rest.get(1) != Some(&b' ') || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// hyper's refusal `head` (status `status`, no body) rewritten with the one error shape as
/// its body, keeping hyper's other headers (`date`, `connection`); `None` for an answer
/// hyper does not give on its own, or a head not whole in this write.
fn own_refusal(status: u16, head: &[u8]) -> Option<Vec<u8>> {
    let (code, message) = match status {
        400 => ("bad_request", "the request is not valid HTTP/1.1"),
        414 => (
            "uri_too_long",
            "the request target is longer than the server accepts",
        ),
        431 => (
            "headers_too_large",
            "the request's headers are larger than the server accepts (at most 100 headers, about 400 KiB)",
        ),
        _ => return None,
    };
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&head[..end]).ok()?;
    let body =
        serde_json::json!({"status": "error", "error": code, "message": message}).to_string();
    let mut out = String::with_capacity(head.len() + body.len() + 96);
    for (i, line) in head.split("\r\n").enumerate() {
        let name = line.split(':').next().unwrap_or("").trim();
        let replaced = ["content-length", "content-type", "connection"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n));
        if i == 0 || !replaced {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("content-type: application/json\r\nconnection: close\r\n");
    out.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    Some(out.into_bytes())
}

impl<S: AsyncRead + Unpin, const HEADS: bool> AsyncRead for Watched<S, HEADS> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if HEADS && matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.bytes_read();
        }
        result
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin, const HEADS: bool> AsyncWrite for Watched<S, HEADS> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let head = HEADS && self.rewrite.is_none() && self.look_at_write(buf, buf.len());
        if HEADS && self.rewrite.is_some() {
            return self.poll_rewrite(cx);
        }
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch.writing(&result);
        self.count_head(head, &result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut head = false;
        if HEADS
            && self.rewrite.is_none()
            && let Some(first) = bufs.iter().find(|b| !b.is_empty())
        {
            let claimed = bufs.iter().map(|b| b.len()).sum();
            head = self.look_at_write(first, claimed);
        }
        if HEADS && self.rewrite.is_some() {
            return self.poll_rewrite(cx);
        }
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch.writing(&result);
        self.count_head(head, &result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Ends the connection's writing, then lingers: reads and throws away what the client
    /// still sends until it closes its side, up to [`LINGER_BYTES`] and for as long as the
    /// watchdog allows (`min(header, idle)` timeout). A client that writes its whole
    /// request before reading (Python's `http.client`) and is answered before its body is
    /// read (413, 401, 415, 503) then reads the answer: closing with its bytes unread
    /// would reset the connection under it, and the answer with it.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let lingered = match this.lingered {
            Some(n) => n,
            None => {
                std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                if this.watch.stopping.load(Ordering::Acquire) {
                    return Poll::Ready(Ok(()));
                }
                this.watch
                    .lingering_since
                    .store(this.watch.now(), Ordering::Release);
                *this.lingered.insert(0)
            }
        };
        let mut lingered = lingered;
        let mut sink = [0u8; 8192];
        while lingered < LINGER_BYTES {
            let mut buf = ReadBuf::new(&mut sink);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    lingered += buf.filled().len() as u64;
                    this.lingered = Some(lingered);
                }
                // The client closed its side (or broke the connection): done.
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}
