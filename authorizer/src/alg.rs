//! JWS algorithms: the asymmetric ones the verifier can accept. Symmetric (`HS*`) and `none` do
//! not exist here, so no setting can enable them.

/// An asymmetric JWS algorithm (RFC 7518), named exactly as in a JOSE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    /// ECDSA P-521 with SHA-512; the signature is the 132-byte `r‖s`.
    ES512,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 10] = [
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::ES512,
        Alg::EdDSA,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::ES512 => "ES512",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The digest an RSA algorithm (PKCS #1 v1.5 or PSS) signs, which [`crate::jwk::verify`]
    /// computes itself; `None` for the others.
    pub fn rsa_digest(self) -> Option<&'static aws_lc_rs::digest::Algorithm> {
        use aws_lc_rs::digest::{SHA256, SHA384, SHA512};
        match self {
            Alg::RS256 | Alg::PS256 => Some(&SHA256),
            Alg::RS384 | Alg::PS384 => Some(&SHA384),
            Alg::RS512 | Alg::PS512 => Some(&SHA512),
            Alg::ES256 | Alg::ES384 | Alg::ES512 | Alg::EdDSA => None,
        }
    }

    /// Exact, case-sensitive match of a JOSE `alg` value.
    pub fn from_name(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == s)
    }
}
