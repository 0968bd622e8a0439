//! Digests and HMACs for `k6/crypto`: SHA-1 and SHA-2 from ring, MD5 from md-5.

use md5::Digest as _;
use ring::{digest, hmac};

/// The digest of `data` with `algorithm` (`md5`, `sha1`, `sha256`, `sha384`, `sha512`), or
/// its HMAC with `key`; what cannot be computed, in words.
pub fn digest(algorithm: &str, key: Option<&[u8]>, data: &[u8]) -> Result<Vec<u8>, String> {
    let name = algorithm.to_ascii_lowercase();
    if name == "md5" {
        return match key {
            None => Ok(md5::Md5::digest(data).to_vec()),
            Some(_) => Err("HMAC with md5 is not supported; use sha256".into()),
        };
    }
    let (d, h) = match name.as_str() {
        "sha1" => (
            &digest::SHA1_FOR_LEGACY_USE_ONLY,
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        ),
        "sha256" => (&digest::SHA256, hmac::HMAC_SHA256),
        "sha384" => (&digest::SHA384, hmac::HMAC_SHA384),
        "sha512" => (&digest::SHA512, hmac::HMAC_SHA512),
        other => {
            return Err(format!(
                "algorithm {other:?}: use md5, sha1, sha256, sha384 or sha512"
            ))
        }
    };
    Ok(match key {
        None => digest::digest(d, data).as_ref().to_vec(),
        Some(k) => hmac::sign(&hmac::Key::new(h, k), data).as_ref().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn digests_and_hmacs_match_their_published_vectors() {
        assert_eq!(
            hex(&digest("md5", None, b"").unwrap()),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            hex(&digest("sha1", None, b"abc").unwrap()),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&digest("sha256", None, b"abc").unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // RFC 4231, test case 2.
        assert_eq!(
            hex(&digest("sha256", Some(b"Jefe"), b"what do ya want for nothing?").unwrap()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(digest("ripemd160", None, b"").is_err());
        assert!(digest("md5", Some(b"k"), b"").is_err());
    }
}
