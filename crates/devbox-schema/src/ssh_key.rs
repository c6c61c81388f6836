//! Parsing of OpenSSH public keys (`authorized_keys` lines without options).
//!
//! The check goes further than a prefix match: the base64 body must decode, the key type embedded
//! in the body must match the declared one, and the body must carry exactly the fields of that type
//! (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 and OpenSSH's PROTOCOL.u2f). A typo or a truncated
//! paste is caught here instead of locking a person out of the orchestrator.

use base64::Engine as _;
use thiserror::Error;

/// Key types accepted on the orchestrator.
pub const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// RSA keys shorter than this are refused (OpenSSH and NIST call anything smaller weak).
pub const MIN_RSA_BITS: usize = 2048;

/// A parsed public key (only what the validator needs to report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The key type, e.g. `ssh-ed25519`.
    pub key_type: String,
    /// The decoded body (the "blob"), used to spot the same key listed twice.
    pub blob: Vec<u8>,
    /// The comment after the body, if any.
    pub comment: Option<String>,
}

/// Why a string is not a usable public key. Messages never echo the key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("the key is empty")]
    Empty,
    #[error("the key spans several lines")]
    MultiLine,
    #[error("this is a PRIVATE key")]
    PrivateKey,
    #[error("unknown key type `{0}`")]
    UnknownType(String),
    #[error("the key has a type (`{0}`) but no base64 body after it")]
    MissingBody(String),
    #[error("the key body is not valid base64")]
    BadBase64,
    #[error("the key says `{declared}` but its body holds a `{embedded}` key")]
    TypeMismatch { declared: String, embedded: String },
    #[error("the `{key_type}` key body is malformed ({what})")]
    Malformed { key_type: String, what: String },
    #[error("the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required")]
    RsaTooSmall { bits: usize },
}

impl KeyError {
    /// A stable code for machine-readable reports.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::Empty => "ssh-key-empty",
            KeyError::MultiLine => "ssh-key-multiline",
            KeyError::PrivateKey => "ssh-key-private",
            KeyError::UnknownType(_) => "ssh-key-unknown-type",
            KeyError::MissingBody(_) => "ssh-key-missing-body",
            KeyError::BadBase64 => "ssh-key-bad-base64",
            KeyError::TypeMismatch { .. } => "ssh-key-type-mismatch",
            KeyError::Malformed { .. } => "ssh-key-malformed",
            KeyError::RsaTooSmall { .. } => "ssh-key-rsa-too-small",
        }
    }

    /// How to fix it.
    pub fn hint(&self) -> String {
        let paste = "paste the single line of your `.pub` file (e.g. the output of `cat ~/.ssh/id_ed25519.pub`)";
        match self {
            KeyError::Empty => format!("remove the empty entry or {paste}"),
            KeyError::MultiLine => format!("put each key in its own list entry; {paste}"),
            KeyError::PrivateKey => "remove it NOW and treat that private key as leaked: create a new \
                 key pair and list only its public half (the `.pub` file)"
                .to_string(),
            KeyError::UnknownType(_) => format!(
                "a key starts with one of: {}; `authorized_keys` options are not supported here; {paste}",
                KEY_TYPES.join(", ")
            ),
            KeyError::MissingBody(_) | KeyError::BadBase64 | KeyError::Malformed { .. } => {
                format!("the key was probably cut or mistyped; {paste}")
            }
            KeyError::TypeMismatch { .. } => {
                format!("the type word was edited or belongs to another key; {paste}")
            }
            KeyError::RsaTooSmall { .. } => {
                "create a stronger key (`ssh-keygen -t ed25519`) and list its public half".to_string()
            }
        }
    }
}

/// Parses one `type base64 [comment]` line.
pub fn parse(line: &str) -> Result<PublicKey, KeyError> {
    if line.contains("PRIVATE KEY") {
        return Err(KeyError::PrivateKey);
    }
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Err(KeyError::Empty);
    }
    if trimmed.contains(['\n', '\r']) {
        return Err(KeyError::MultiLine);
    }
    let mut fields = trimmed.split_whitespace();
    let key_type = fields.next().unwrap_or_default();
    if !KEY_TYPES.contains(&key_type) {
        return Err(KeyError::UnknownType(printable_prefix(key_type)));
    }
    let body = fields
        .next()
        .ok_or_else(|| KeyError::MissingBody(key_type.to_string()))?;
    let comment: Vec<&str> = fields.collect();
    let comment = (!comment.is_empty()).then(|| comment.join(" "));
    let blob = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| KeyError::BadBase64)?;
    check_blob(key_type, &blob)?;
    Ok(PublicKey {
        key_type: key_type.to_string(),
        blob,
        comment,
    })
}

/// The word itself when it looks like a key type name, else a placeholder, so a message never
/// carries a pasted secret.
fn printable_prefix(word: &str) -> String {
    let looks_like_a_type = word.len() <= 40
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '@' | '.' | '_'));
    if looks_like_a_type {
        word.to_string()
    } else {
        "(not shown: not a key type name)".to_string()
    }
}

/// The key type named inside the body: its first SSH string (RFC 4251 §5).
fn embedded_type(blob: &[u8]) -> Option<&[u8]> {
    let (len, rest) = blob.split_first_chunk::<4>()?;
    rest.get(..u32::from_be_bytes(*len) as usize)
}

/// The body of a key of the declared type. The wire format of each type (RFC 4253 §6.6,
/// RFC 5656 §3.1, RFC 8709, OpenSSH's PROTOCOL.u2f) is the `ssh-key` crate's to read; the rules
/// here are ours: the type word matches the body, RSA is long enough, a security key names its
/// application.
fn check_blob(declared: &str, blob: &[u8]) -> Result<(), KeyError> {
    let malformed = |what: String| KeyError::Malformed {
        key_type: declared.to_string(),
        what,
    };
    let embedded = embedded_type(blob)
        .ok_or_else(|| malformed("the type name is missing or cut short".to_string()))?;
    if embedded != declared.as_bytes() {
        return Err(KeyError::TypeMismatch {
            declared: declared.to_string(),
            embedded: printable_prefix(&String::from_utf8_lossy(embedded)),
        });
    }
    // The crate's messages name fields and lengths, never key material.
    let key = ssh_key::PublicKey::from_bytes(blob).map_err(|e| malformed(e.to_string()))?;
    let data = key.key_data();
    if let Some(rsa) = data.rsa() {
        if mpint_bits(rsa.e.as_bytes()) < 2 {
            return Err(malformed("the exponent is too small".to_string()));
        }
        let bits = mpint_bits(rsa.n.as_bytes());
        if bits < MIN_RSA_BITS {
            return Err(KeyError::RsaTooSmall { bits });
        }
    }
    if let Some(ecdsa) = data.ecdsa() {
        // OpenSSH writes uncompressed points only; a compressed one is a damaged paste.
        if ecdsa.as_sec1_bytes().first() != Some(&4) {
            return Err(malformed(
                "the public point is not an uncompressed point".to_string(),
            ));
        }
    }
    let application = data
        .sk_ed25519()
        .map(|k| k.application())
        .or_else(|| data.sk_ecdsa_p256().map(|k| k.application()));
    if application.is_some_and(str::is_empty) {
        return Err(malformed(
            "the security-key application is not a name".to_string(),
        ));
    }
    Ok(())
}

/// Significant bits of a big-endian, non-negative SSH mpint.
fn mpint_bits(bytes: &[u8]) -> usize {
    let Some(pos) = bytes.iter().position(|b| *b != 0) else {
        return 0;
    };
    let first = bytes[pos];
    (bytes.len() - pos - 1) * 8 + (8 - first.leading_zeros() as usize)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn wire(fields: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in fields {
            out.extend_from_slice(&(f.len() as u32).to_be_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    pub(crate) fn line(key_type: &str, fields: &[&[u8]]) -> String {
        let blob = wire(fields);
        format!(
            "{key_type} {} test@example.invalid",
            base64::engine::general_purpose::STANDARD.encode(blob)
        )
    }

    pub(crate) fn ed25519(seed: u8) -> String {
        line("ssh-ed25519", &[b"ssh-ed25519", &[seed; 32]])
    }

    fn rsa(bits: usize) -> String {
        let mut n = vec![0u8; bits / 8 + 1];
        n[1] = 0x80;
        line("ssh-rsa", &[b"ssh-rsa", &[1, 0, 1], &n])
    }

    fn point(len: usize) -> Vec<u8> {
        let mut q = vec![7u8; len];
        q[0] = 4;
        q
    }

    #[test]
    fn accepts_every_supported_type() {
        let keys = [
            ed25519(1),
            rsa(2048),
            rsa(4096),
            line(
                "ecdsa-sha2-nistp256",
                &[b"ecdsa-sha2-nistp256", b"nistp256", &point(65)],
            ),
            line(
                "ecdsa-sha2-nistp384",
                &[b"ecdsa-sha2-nistp384", b"nistp384", &point(97)],
            ),
            line(
                "ecdsa-sha2-nistp521",
                &[b"ecdsa-sha2-nistp521", b"nistp521", &point(133)],
            ),
            line(
                "sk-ssh-ed25519@openssh.com",
                &[b"sk-ssh-ed25519@openssh.com", &[3; 32], b"ssh:"],
            ),
            line(
                "sk-ecdsa-sha2-nistp256@openssh.com",
                &[
                    b"sk-ecdsa-sha2-nistp256@openssh.com",
                    b"nistp256",
                    &point(65),
                    b"ssh:",
                ],
            ),
        ];
        for k in keys {
            let parsed = parse(&k).unwrap_or_else(|e| panic!("{k}: {e}"));
            assert_eq!(parsed.comment.as_deref(), Some("test@example.invalid"));
            assert!(k.starts_with(&parsed.key_type));
        }
    }

    #[test]
    fn accepts_keys_made_by_ssh_keygen_and_without_comment() {
        // Generated once with ssh-keygen; the private half was never kept.
        let k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGbgnU8Om8G+Ce0yxsCvIU3zd3jwm5zGlnlLN9kFq4nE";
        let parsed = parse(k).unwrap();
        assert_eq!(parsed.key_type, "ssh-ed25519");
        assert_eq!(parsed.comment, None);
    }

    #[test]
    fn rejects_each_kind_of_damage() {
        let good = ed25519(9);
        let body = good.split(' ').nth(1).unwrap().to_string();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "ssh-key-empty"),
            ("   ".into(), "ssh-key-empty"),
            (format!("{good}\n{good}"), "ssh-key-multiline"),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----".into(),
                "ssh-key-private",
            ),
            ("ssh-dss AAAAB3NzaC1kc3M= x".into(), "ssh-key-unknown-type"),
            (format!("from=\"10.0.0.1\" {good}"), "ssh-key-unknown-type"),
            ("ssh-ed25519".into(), "ssh-key-missing-body"),
            ("ssh-ed25519 not*base64 c".into(), "ssh-key-bad-base64"),
            (format!("ssh-rsa {body}"), "ssh-key-type-mismatch"),
            (format!("ssh-ed25519 {}", &body[..40]), "ssh-key-malformed"),
            (
                line("ssh-ed25519", &[b"ssh-ed25519", &[1; 31]]),
                "ssh-key-malformed",
            ),
            (
                line("ssh-ed25519", &[b"ssh-ed25519", &[1; 32], b"extra"]),
                "ssh-key-malformed",
            ),
            (rsa(1024), "ssh-key-rsa-too-small"),
            (
                line(
                    "ecdsa-sha2-nistp256",
                    &[b"ecdsa-sha2-nistp256", b"nistp384", &point(65)],
                ),
                "ssh-key-malformed",
            ),
            (
                line(
                    "ecdsa-sha2-nistp384",
                    &[b"ecdsa-sha2-nistp384", b"nistp384", &point(65)],
                ),
                "ssh-key-malformed",
            ),
            (
                line("sk-ssh-ed25519@openssh.com", &[b"sk-ssh-ed25519@openssh.com", &[3; 32]]),
                "ssh-key-malformed",
            ),
        ];
        for (input, code) in cases {
            let err = parse(&input).expect_err(&input);
            assert_eq!(err.code(), code, "{input:?}: {err}");
            assert!(!err.hint().is_empty());
        }
    }

    #[test]
    fn messages_never_echo_key_material() {
        let canary = "CANARYCANARYCANARYCANARYCANARYCANARYCANARYCANARYCANARY";
        for input in [
            format!("{canary} AAAA"),
            format!("ssh-ed25519 {canary}"),
            format!("-----BEGIN OPENSSH PRIVATE KEY-----{canary}"),
        ] {
            let err = parse(&input).unwrap_err();
            assert!(!err.to_string().contains(canary), "{err}");
            assert!(!err.hint().contains(canary));
        }
    }

    #[test]
    fn mpint_bit_counts() {
        assert_eq!(mpint_bits(&[]), 0);
        assert_eq!(mpint_bits(&[0, 0]), 0);
        assert_eq!(mpint_bits(&[1]), 1);
        assert_eq!(mpint_bits(&[0, 0x80, 0]), 16);
        assert_eq!(mpint_bits(&[1, 0, 1]), 17);
    }
}
