//! The watchdog of one connection: what it knows of the connection's progress, the
//! busy mark a request holds, and the stream that reports bytes read and writes blocked.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
}

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
        }
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
        let blocked = self.blocked_since.load(Ordering::Acquire);
        if blocked != NONE {
            return Some((self.at(blocked) + idle, "response not read"));
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

/// A stream (TCP, or TLS over it) that tells its [`Watch`] when bytes arrive.
pub(super) struct Watched<S> {
    pub(super) inner: S,
    pub(super) watch: Arc<Watch>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.bytes_read();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
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

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
