//! C9: TLS faults get distinct error kinds, never an insecure fallback. Certificates are made
//! at test time (rcgen) and served by a rustls server on loopback.

use crate::support;

use loadpacer::run::RunOptions;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// A test CA that signs leaf certificates.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names`, valid now unless `expired`.
    fn leaf(&self, names: &[&str], expired: bool) -> (Vec<u8>, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        if expired {
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::days(30);
            params.not_after = now - time::Duration::days(1);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().to_vec(), key)
    }
}

fn self_signed(names: &[&str]) -> (Vec<u8>, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.der().to_vec(), key)
}

/// A TLS acceptor presenting `cert` (ring provider, safe defaults).
fn acceptor(cert: Vec<u8>, key: KeyPair) -> tokio_rustls::TlsAcceptor {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.into()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// An HTTPS server on 127.0.0.1:0 presenting `cert`, answering 200 to whoever completes the
/// handshake.
async fn https_server(cert: Vec<u8>, key: KeyPair) -> SocketAddr {
    let acceptor = acceptor(cert, key);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return; // the client refused the certificate
                };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

/// A temp dir holding `ca.pem` when `ca_pem` is given, and the target option trusting it.
fn ca_dir(ca_pem: Option<&str>) -> (tempfile::TempDir, &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let ca = match ca_pem {
        Some(pem) => {
            std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
            ", ca_file: ca.pem"
        }
        None => "",
    };
    (dir, ca)
}

/// Runs five requests against `addr` over https, trusting `ca_pem` if given; returns the
/// error kinds counted.
async fn kinds(addr: SocketAddr, ca_pem: Option<&str>) -> std::collections::BTreeMap<String, u64> {
    let (dir, ca) = ca_dir(ca_pem);
    let yaml = format!(
        "targets:\n  t: {{ base_url: \"https://{addr}\", timeout: 2s{ca} }}\nplans:\n  p:\n    target: t\n    load: {{ phases: [{{ duration: 1s, rate: 5 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}]\n"
    );
    let s = support::run_plan(&yaml, Some(dir.path()), RunOptions::default()).await;
    assert_eq!(s.requests[0].count, 5);
    s.requests[0].errors.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c9_tls_faults_have_distinct_kinds_and_a_trusted_certificate_works() {
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["127.0.0.1"], false);
    let good = https_server(cert, key).await;
    assert!(
        kinds(good, Some(&ca.pem)).await.is_empty(),
        "a certificate from the trusted CA for the right address is accepted"
    );

    let (cert, key) = self_signed(&["127.0.0.1"]);
    let untrusted = https_server(cert, key).await;
    assert_eq!(kinds(untrusted, None).await.get("tls_untrusted"), Some(&5));

    let (cert, key) = ca.leaf(&["127.0.0.1"], true);
    let expired = https_server(cert, key).await;
    assert_eq!(
        kinds(expired, Some(&ca.pem)).await.get("tls_expired"),
        Some(&5)
    );

    let (cert, key) = ca.leaf(&["localhost"], false);
    let wrong_host = https_server(cert, key).await;
    assert_eq!(
        kinds(wrong_host, Some(&ca.pem)).await.get("tls_hostname"),
        Some(&5)
    );

    // Without the CA, the good server is untrusted too: never an insecure fallback.
    assert_eq!(kinds(good, None).await.get("tls_untrusted"), Some(&5));
}

#[test]
fn a_ca_file_that_is_not_pem_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), "not a certificate").unwrap();
    let yaml = "targets:\n  t: { base_url: \"https://127.0.0.1:8443\", ca_file: ca.pem }\nplans:\n  p:\n    target: t\n    load: { phases: [{ duration: 1s, rate: 1 }] }\n    scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }]\n";
    let err = loadpacer::config::load_str(yaml, "t.yaml", Some(dir.path()), &|_| None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("t.yaml:2:53: targets.t.ca_file: \"ca.pem\" holds no certificate"),
        "{err}"
    );
}

/// A WebSocket echo server over TLS on 127.0.0.1:0 presenting `cert`.
async fn wss_echo_server(cert: Vec<u8>, key: KeyPair) -> SocketAddr {
    use futures_util::{SinkExt, StreamExt};
    let acceptor = acceptor(cert, key);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Runs five `wss` sessions (send, expect the echo) against `addr`, trusting `ca_pem` if
/// given; returns the stream's figures.
async fn wss_sessions(
    addr: SocketAddr,
    ca_pem: Option<&str>,
) -> loadpacer::report::summary::StreamSummary {
    let (dir, ca) = ca_dir(ca_pem);
    let yaml = format!(
        "targets:\n  t: {{ base_url: \"https://{addr}\", timeout: 2s{ca} }}\nplans:\n  p:\n    target: t\n    load: {{ phases: [{{ duration: 1s, rate: 5 }}] }}\n    scenarios: [{{ name: s, steps: [{{ ws: {{ name: secure, path: /, actions: [{{ send: hi }}, {{ expect: {{ equals: hi, timeout: 2s }} }}] }} }}] }}]\n"
    );
    let s = support::run_plan(&yaml, Some(dir.path()), RunOptions::default()).await;
    s.streams[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_trusts_the_targets_ca_file_and_never_falls_back_to_insecure() {
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["127.0.0.1"], false);
    let good = wss_echo_server(cert, key).await;
    let k = wss_sessions(good, Some(&ca.pem)).await;
    assert_eq!(k.sessions, 5, "{k:?}");
    assert_eq!(k.messages_received, 5, "{k:?}");
    assert_eq!(k.ends.get("normal"), Some(&5), "{:?}", k.ends);

    // The same server without its CA: every attempt ends as `tls`, none opens.
    let k = wss_sessions(good, None).await;
    assert_eq!(k.sessions, 0, "{k:?}");
    assert_eq!(k.ends.get("tls"), Some(&5), "{:?}", k.ends);
}
