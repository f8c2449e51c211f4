//! TLS on the main listener: a certificate chain and its private key read from PEM files,
//! offered through ALPN as HTTP/2 and HTTP/1.1, and read again on demand (`SIGHUP`) without
//! touching open connections: each connection keeps the pair it was accepted with, and new
//! ones get the newest pair that loaded. A pair that fails to load never replaces a good one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::ServerConfig;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// The TLS side of the main listener; cheap to clone.
#[derive(Clone)]
pub struct Tls(Arc<Inner>);

struct Inner {
    cert: PathBuf,
    key: PathBuf,
    /// What new connections are accepted with.
    current: RwLock<TlsAcceptor>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.0.cert)
            .field("key", &self.0.key)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the certificate chain and key; an error says which file is wrong and how.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let acceptor = acceptor(cert, key)?;
        Ok(Self(Arc::new(Inner {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(acceptor),
        })))
    }

    /// Reads both files again. On success new connections get the new pair; on error
    /// nothing changes.
    pub fn reload(&self) -> anyhow::Result<()> {
        let acceptor = acceptor(&self.0.cert, &self.0.key)?;
        *self.0.current.write().unwrap_or_else(|p| p.into_inner()) = acceptor;
        Ok(())
    }

    /// The acceptor for a connection accepted now.
    pub(super) fn acceptor(&self) -> TlsAcceptor {
        self.0
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reloads the pair on every `SIGHUP` until `stop` is cancelled, logging the outcome.
    /// Listens from the call on.
    #[cfg(unix)]
    pub fn reload_on_sighup(&self, stop: CancellationToken) {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: the certificate will not be reloaded");
                return;
            }
        };
        let tls = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    received = hangups.recv() => if received.is_none() { return },
                    () = stop.cancelled() => return,
                }
                match tls.reload() {
                    Ok(()) => tracing::info!(
                        cert = %tls.0.cert.display(),
                        "SIGHUP: certificate and key reloaded; new connections use them"
                    ),
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "SIGHUP: certificate and key not reloaded; keeping the previous pair"
                    ),
                }
            }
        });
    }

    /// Without `SIGHUP`, the pair is read once.
    #[cfg(not(unix))]
    pub fn reload_on_sighup(&self, _stop: CancellationToken) {}
}

/// The TLS handshake of a new connection, bounded by `timeout` (the header timeout: a
/// client that does not finish its handshake holds a connection like one that does not
/// send its headers) and abandoned when the server stops.
pub(super) async fn handshake<S>(
    acceptor: TlsAcceptor,
    stream: S,
    timeout: Duration,
    stop: &CancellationToken,
) -> Option<TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let accepting = tokio::time::timeout(timeout, acceptor.accept(stream));
    tokio::select! {
        done = accepting => match done {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!("TLS handshake not done within the header timeout");
                None
            }
        },
        () = stop.cancelled() => None,
    }
}

fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = crate::alert::client::read_certificates(cert)?;
    let key_der = read_private_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .with_context(|| {
            format!(
                "the key in {} does not fit the certificate in {}",
                key.display(),
                cert.display()
            )
        })?;
    // HTTP/2 for clients that offer it, HTTP/1.1 otherwise (rustls picks the first of
    // these the client offers).
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(key) => Ok(key),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => bail!(
            "{}: no private key found (expected a PEM block BEGIN PRIVATE KEY, \
             BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)",
            path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("{}: not a valid PEM file", path.display())),
    }
}
