//! AutoMTLS as go-plugin does it: Terraform generates a client certificate and passes it in
//! `PLUGIN_CLIENT_CERT`; the plugin generates a fresh server certificate, prints it in the
//! handshake line, and accepts only connections that present exactly the client's certificate.
//!
//! go-plugin's certificates are self-signed CA certificates on ECDSA P-521 keys, which a WebPKI
//! verifier rejects as end-entity certificates; so the client certificate is pinned (byte-equal)
//! and only the TLS handshake signature is checked with the crypto provider's algorithms.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

use crate::error::Error;

/// The server certificate generated for this run, and the TLS configuration that uses it.
pub struct ServerTls {
    /// DER of the server certificate, printed (base64) in the handshake line.
    pub certificate_der: Vec<u8>,
    pub config: Arc<ServerConfig>,
}

/// Builds the server side of AutoMTLS for the PEM client certificate Terraform handed over.
pub fn server_tls(client_cert_pem: &str) -> Result<ServerTls, Error> {
    let client_cert = CertificateDer::from_pem_slice(client_cert_pem.as_bytes()).map_err(Error::ClientCertificate)?;
    let (certificate, key) = generate_server_certificate()?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(PinnedClientCert { expected: client_cert.into_owned(), provider: provider.clone() });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![certificate.clone()], key)
        .map_err(Error::Tls)?;
    // gRPC clients (grpc-go since 1.67) require HTTP/2 to be negotiated through ALPN.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(ServerTls { certificate_der: certificate.to_vec(), config: Arc::new(config) })
}

/// A self-signed certificate for `localhost`, shaped like go-plugin's (CA, server and client auth),
/// because the plugin client trusts exactly this certificate as its root.
fn generate_server_certificate() -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName as Dn, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    };
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(Error::ServerCertificate)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(Error::ServerCertificate)?;
    let mut name = Dn::new();
    name.push(DnType::CommonName, "localhost");
    name.push(DnType::OrganizationName, "terraform-provider-efs");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::KeyCertSign];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::seconds(30);
    params.not_after = now + time::Duration::days(30);
    let cert = params.self_signed(&key).map_err(Error::ServerCertificate)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((cert.der().clone(), key_der))
}

#[derive(Debug)]
struct PinnedClientCert {
    expected: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_bad_client_certificate_pem_keeping_the_cause() {
        let err = server_tls("not a certificate").err().expect("refused");
        assert!(matches!(err, Error::ClientCertificate(_)), "{err}");
        assert!(std::error::Error::source(&err).is_some(), "{err:?}");
        assert!(err.to_string().contains("PLUGIN_CLIENT_CERT is not a PEM certificate"), "{err}");
    }

    #[test]
    fn verifies_p521_signatures_like_go_plugin_clients_make() {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let schemes = provider.signature_verification_algorithms.supported_schemes();
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP521_SHA512), "{schemes:?}");
    }
}
