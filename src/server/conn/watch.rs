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
pub(super) struct Watched<S, const HEADS: bool = true> {
    inner: S,
    watch: Arc<Watch>,
    /// Bytes read and thrown away since the connection began to linger, or `None` before.
    lingered: Option<u64>,
}

impl<S, const HEADS: bool> Watched<S, HEADS> {
    pub(super) fn new(inner: S, watch: Arc<Watch>) -> Self {
        Self {
            inner,
            watch,
            lingered: None,
        }
    }
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
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch.writing(&result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch.writing(&result);
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
