//! The https scenario's certificates: a CA made for the run, and a server
//! certificate it signed for `127.0.0.1`. The clients trust the CA (its PEM
//! file is handed to every worker), nothing else changes in their settings.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA and a server certificate for `127.0.0.1`.
pub struct RunCa {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    leaf_der: Vec<u8>,
    leaf_key: Vec<u8>,
}

impl RunCa {
    /// A fresh CA and server certificate.
    ///
    /// # Errors
    ///
    /// Key generation or signing failed.
    pub fn new() -> Result<RunCa, String> {
        let fail = |e: rcgen::Error| format!("cannot make the https scenario's certificates: {e}");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "httpswap bench ca");
        let ca_key = KeyPair::generate().map_err(fail)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(fail)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let mut leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).map_err(fail)?;
        leaf_params.use_authority_key_identifier_extension = true;
        leaf_params
            .extended_key_usages
            .push(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
        let leaf_key = KeyPair::generate().map_err(fail)?;
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(fail)?;
        Ok(RunCa {
            ca_pem: ca_cert.pem(),
            leaf_der: leaf.der().to_vec(),
            leaf_key: leaf_key.serialize_der(),
        })
    }

    /// The server's rustls config, HTTP/1.1 by ALPN.
    ///
    /// # Errors
    ///
    /// The key does not load.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.leaf_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.clone())),
            )
            .map_err(|e| e.to_string())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
