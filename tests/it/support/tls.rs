//! Certificates made in the test with rcgen: a private CA, server certificates it signs for
//! 127.0.0.1 and localhost, PEM files holding them, and clients that trust the CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A certificate authority of the test's own, trusted by nothing unless told.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key, as PEM.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("a CA certificate");
        Self { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A certificate for 127.0.0.1 and localhost signed by this CA.
    pub fn issue(&self) -> Leaf {
        let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
            .expect("server params");
        let key = KeyPair::generate().expect("a server key");
        let cert = params.signed_by(&key, &self.issuer).expect("a server cert");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// A reqwest client that trusts this CA.
    pub fn reqwest(&self) -> reqwest::Client {
        let root = reqwest::Certificate::from_der(self.der().as_ref()).expect("CA for reqwest");
        reqwest::Client::builder()
            .add_root_certificate(root)
            .build()
            .expect("an https client")
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing a PEM file");
    path
}

/// A TLS connection (HTTP/1.1 by ALPN) to `addr`, trusting every CA of `cas`.
pub async fn connect(addr: std::net::SocketAddr, cas: &[&Ca]) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        roots.add(ca.der()).expect("a CA root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.expect("connecting");
    let name = ServerName::IpAddress(addr.ip().into());
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("a TLS handshake")
}

/// The certificate the server presented on `stream`.
pub fn presented(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    let (_, session) = stream.get_ref();
    session.peer_certificates().expect("a server certificate")[0].clone()
}

/// `hookrelay serve` over TLS with a certificate `ca` issued (written to the folder
/// returned beside it), and `args`.
pub fn https_server(ca: &Ca, args: &[&str]) -> (super::Served, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let leaf = ca.issue();
    let cert = write(dir.path(), "cert.pem", &leaf.cert_pem);
    let key = write(dir.path(), "key.pem", &leaf.key_pem);
    let mut all = vec![
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    (super::Served::start(&all), dir)
}
