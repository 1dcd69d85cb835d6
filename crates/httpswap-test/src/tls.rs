//! A certificate authority generated per test (rcgen), and server configs.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA and a server certificate it signed for `localhost` and `127.0.0.1`.
pub struct TestCa {
    ca_der: Vec<u8>,
    ca_pem: String,
    leaf_der: Vec<u8>,
    leaf_key: Vec<u8>,
    leaf_pem: String,
    leaf_key_pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

impl TestCa {
    /// A fresh CA and leaf.
    ///
    /// # Panics
    ///
    /// If key generation fails (it does not with the ring provider).
    pub fn new() -> TestCa {
        TestCa::issue(&["localhost", "127.0.0.1"], false)
    }

    /// A fresh CA whose leaf is valid for `names` only (to test that a
    /// certificate for another host is refused).
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new).
    pub fn for_names(names: &[&str]) -> TestCa {
        TestCa::issue(names, false)
    }

    /// A fresh CA whose leaf (for `localhost` and `127.0.0.1`) expired in
    /// 2021.
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new).
    pub fn expired() -> TestCa {
        TestCa::issue(&["localhost", "127.0.0.1"], true)
    }

    fn issue(names: &[&str], expired: bool) -> TestCa {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "httpswap test ca");
        let ca_key = KeyPair::generate().expect("ca key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::new(ca_params, ca_key);

        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut leaf_params = CertificateParams::new(names).expect("leaf params");
        leaf_params.use_authority_key_identifier_extension = true;
        leaf_params
            .extended_key_usages
            .push(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
        if expired {
            leaf_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            leaf_params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("leaf cert");
        TestCa {
            ca_der: ca_cert.der().to_vec(),
            ca_pem: ca_cert.pem(),
            leaf_der: leaf.der().to_vec(),
            leaf_key: leaf_key.serialize_der(),
            leaf_pem: leaf.pem(),
            leaf_key_pem: leaf_key.serialize_pem(),
        }
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server certificate and its private key, PEM (for a real server
    /// such as nginx).
    pub fn leaf_pem(&self) -> (&str, &str) {
        (&self.leaf_pem, &self.leaf_key_pem)
    }

    /// A rustls server config presenting the leaf, offering `alpn`.
    ///
    /// # Panics
    ///
    /// If the generated key does not load (it does).
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.leaf_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.clone())),
            )
            .expect("server cert");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}
