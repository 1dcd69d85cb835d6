//! rustls client settings from a [`TlsConfig`]: the ring provider, the
//! webpki roots unless turned off, extra roots, and the explicit opt-out of
//! verification. Backends that take a rustls `ClientConfig` (hyper,
//! reqwest) share these, so they trust exactly the same certificates.

use std::sync::Arc;

use httpswap_core::{Error, TlsConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Two client configs: one offering only http/1.1 by ALPN, one also
/// offering h2 (used when HTTP/2 is enabled).
#[derive(Debug, Clone)]
pub struct TlsConfigs {
    /// Offers `http/1.1` only.
    pub http1: Arc<rustls::ClientConfig>,
    /// Offers `h2`, then `http/1.1`.
    pub http2: Arc<rustls::ClientConfig>,
}

/// The TLS server name of a URL's host (an IPv6 literal in brackets, as
/// in URLs): an IP address, or a DNS name.
///
/// ```
/// use httpswap_adapter::tls::server_name;
/// assert!(matches!(server_name("[::1]")?, rustls::pki_types::ServerName::IpAddress(_)));
/// assert!(matches!(server_name("example.com")?, rustls::pki_types::ServerName::DnsName(_)));
/// assert!(server_name("bad name").is_err());
/// # Ok::<(), httpswap_core::Error>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::InvalidUrl`](httpswap_core::ErrorKind::InvalidUrl) for a
/// host that is neither.
pub fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
        Err(_) => ServerName::try_from(bare.to_owned()).map_err(|e| {
            Error::new(
                httpswap_core::ErrorKind::InvalidUrl,
                format!("invalid tls server name {bare:?}"),
            )
            .with_source(e)
        }),
    }
}

/// Builds both client configurations.
///
/// ```
/// let tls = httpswap_adapter::tls::build(&httpswap_core::TlsConfig::default())?;
/// assert_eq!(tls.http2.alpn_protocols[0], b"h2");
/// # Ok::<(), httpswap_core::Error>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::Builder`](httpswap_core::ErrorKind::Builder) for an
/// invalid root certificate, or when no root would be trusted at all.
pub fn build(tls: &TlsConfig) -> Result<TlsConfigs, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::builder(format!("tls setup failed: {e}")).with_source(e))?;
    let config = if tls.danger_accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        if tls.builtin_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for cert in &tls.root_certificates {
            roots
                .add(CertificateDer::from(cert.der().to_vec()))
                .map_err(|e| {
                    Error::builder(format!("invalid root certificate: {e}")).with_source(e)
                })?;
        }
        if roots.is_empty() {
            return Err(Error::builder(
                "no trusted roots: built-in roots are off and no root certificate was given",
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    let mut http1 = config.clone();
    http1.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut http2 = config;
    http2.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsConfigs {
        http1: Arc::new(http1),
        http2: Arc::new(http2),
    })
}

/// Accepts any certificate, for `danger_accept_invalid_certs`. Signatures
/// are still checked, so the handshake is well-formed.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
