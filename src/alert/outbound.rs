//! What outbound connections trust and where they go: the public roots plus any private CA
//! read from a PEM file (never "any certificate"), a certificate failure told as such, and
//! whether the proxy variables of the environment are set and name a proxy this client
//! speaks to.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use http::Uri;
use http::uri::Scheme;
use hyper_util::client::proxy::matcher::Intercept;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Every certificate of a PEM file, in order: CA certificates for
/// [`ClientOptions::extra_roots`](super::ClientOptions::extra_roots), or a server's chain. An error says which file and why,
/// also when it holds none.
pub fn read_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not a valid PEM file", path.display()))?;
    if certificates.is_empty() {
        bail!(
            "{}: no certificate found (expected a PEM block BEGIN CERTIFICATE)",
            path.display()
        );
    }
    Ok(certificates)
}

/// The TLS settings of outbound https: the public roots and `extra_roots`, HTTP/1.1.
pub fn client_tls(
    extra_roots: Vec<CertificateDer<'static>>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for (i, certificate) in extra_roots.into_iter().enumerate() {
        roots
            .add(certificate)
            .map_err(|e| anyhow::anyhow!("CA certificate {} is not usable: {e}", i + 1))?;
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

/// The server's certificate did not verify: the root cause, made to say what to do.
#[derive(Debug)]
struct Untrusted(rustls::Error);

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // webpki's reason has no variant of its own in rustls: it is known by its name.
        if self.0.to_string().contains("CaUsedAsEndEntity") {
            return write!(
                f,
                "the server's certificate is a CA certificate (basicConstraints CA:TRUE), \
                 which cannot be a server's own ({}); give the server one with CA:FALSE",
                self.0
            );
        }
        write!(
            f,
            "the server's certificate is not trusted ({}); a private CA can be trusted with \
             --cacert (send) or --forward-cacert (serve)",
            self.0
        )
    }
}

impl std::error::Error for Untrusted {}

/// A connection error made to say what it means: [`Untrusted`] when a certificate check
/// caused it, [`ThroughProxy`] when a proxy was on the way.
pub(super) fn explain(
    e: Box<dyn std::error::Error + Send + Sync>,
    proxy: Option<Uri>,
) -> Box<dyn std::error::Error + Send + Sync> {
    if let Some(tls @ rustls::Error::InvalidCertificate(_)) = tls_error(&*e) {
        return Box::new(Untrusted(tls.clone()));
    }
    match proxy {
        Some(proxy) => {
            let mut root: &(dyn std::error::Error + 'static) = &*e;
            while let Some(next) = root.source() {
                root = next;
            }
            let host = proxy.host().unwrap_or("");
            let port = proxy
                .port_u16()
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            Box::new(ThroughProxy(format!(
                "through the proxy {host}{port}: {root}"
            )))
        }
        None => e,
    }
}

/// A connection through a proxy failed: which proxy, and the root cause.
#[derive(Debug)]
struct ThroughProxy(String);

impl std::fmt::Display for ThroughProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ThroughProxy {}

/// The rustls error under `e`, also inside `io::Error`s (whose `source` skips what they
/// wrap).
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let wrapped = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref());
    if let Some(found) = wrapped.and_then(|inner| tls_error(inner)) {
        return Some(found);
    }
    e.source().and_then(tls_error)
}

/// Whether any proxy variable is set: without one, no request pays for matching.
pub(super) fn proxy_configured() -> bool {
    let names = [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ];
    names
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// The proxy's address, when it is one this client speaks to (http://).
pub(super) fn usable_proxy(proxy: &Intercept) -> Result<Uri, String> {
    let uri = proxy.uri();
    if uri.scheme() == Some(&Scheme::HTTP) {
        Ok(uri.clone())
    } else {
        // Named without its credentials.
        let host = uri.host().unwrap_or("");
        let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
        Err(format!(
            "the proxy {}://{host}{port} from the environment is not supported \
             (only http:// proxies are)",
            uri.scheme_str().unwrap_or("")
        ))
    }
}
