//! TSIG (RFC 8945): signs the RFC 2136 UPDATE messages of the DNS-01 `rfc2136` provider and
//! verifies the server's signed answer. HMACs come from aws-lc-rs (SHA-1/224/256/384/512);
//! HMAC-MD5, still the default of old BIND setups, is built on the `md-5` digest.

use super::wire::{self, WireError, CLASS_ANY, TYPE_TSIG};

/// TSIG algorithms, by their wire names (lego accepts these with or without the final dot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    HmacMd5,
    HmacSha1,
    HmacSha224,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    pub fn parse(s: &str) -> Option<Algorithm> {
        let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
        Some(match s.as_str() {
            "hmac-md5.sig-alg.reg.int" | "hmac-md5" => Algorithm::HmacMd5,
            "hmac-sha1" => Algorithm::HmacSha1,
            "hmac-sha224" => Algorithm::HmacSha224,
            "hmac-sha256" => Algorithm::HmacSha256,
            "hmac-sha384" => Algorithm::HmacSha384,
            "hmac-sha512" => Algorithm::HmacSha512,
            _ => return None,
        })
    }

    /// The algorithm's name in TSIG records.
    pub fn wire_name(self) -> &'static str {
        match self {
            Algorithm::HmacMd5 => "hmac-md5.sig-alg.reg.int.",
            Algorithm::HmacSha1 => "hmac-sha1.",
            Algorithm::HmacSha224 => "hmac-sha224.",
            Algorithm::HmacSha256 => "hmac-sha256.",
            Algorithm::HmacSha384 => "hmac-sha384.",
            Algorithm::HmacSha512 => "hmac-sha512.",
        }
    }

    pub fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        use aws_lc_rs::hmac;
        let alg = match self {
            Algorithm::HmacMd5 => return hmac_md5(key, data),
            Algorithm::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::HmacSha224 => hmac::HMAC_SHA224,
            Algorithm::HmacSha256 => hmac::HMAC_SHA256,
            Algorithm::HmacSha384 => hmac::HMAC_SHA384,
            Algorithm::HmacSha512 => hmac::HMAC_SHA512,
        };
        hmac::sign(&hmac::Key::new(alg, key), data)
            .as_ref()
            .to_vec()
    }
}

/// RFC 2104 over MD5 (block size 64).
fn hmac_md5(key: &[u8], data: &[u8]) -> Vec<u8> {
    use md5::{Digest, Md5};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..16].copy_from_slice(&Md5::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Md5::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Md5::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// A TSIG key: its name (as configured on the server), algorithm and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub algorithm: Algorithm,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Why a signed answer is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsigError {
    #[error("the server's answer is not signed with TSIG")]
    Unsigned,
    #[error("the server rejected the TSIG signature: {0}")]
    Server(String),
    #[error("the server's TSIG signature does not verify with key `{0}`")]
    BadMac(String),
    #[error("the server's TSIG time is outside the fudge window (check the clocks)")]
    BadTime,
    #[error("malformed TSIG record")]
    Malformed,
}

/// The TSIG variables digested after the message (RFC 8945 §4.3.3).
fn variables(
    key: &Key,
    time: u64,
    fudge: u16,
    error: u16,
    other: &[u8],
) -> Result<Vec<u8>, WireError> {
    let mut v = wire::canonical_name(&key.name)?;
    v.extend_from_slice(&CLASS_ANY.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&wire::canonical_name(key.algorithm.wire_name())?);
    v.extend_from_slice(&time.to_be_bytes()[2..]);
    v.extend_from_slice(&fudge.to_be_bytes());
    v.extend_from_slice(&error.to_be_bytes());
    let len = u16::try_from(other.len()).map_err(|_| WireError::Malformed)?;
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(other);
    Ok(v)
}

/// Signs `msg` in place (appends the TSIG record, bumps ARCOUNT); returns the request MAC,
/// which the answer's MAC covers.
pub fn sign(msg: &mut Vec<u8>, key: &Key, time: u64, fudge: u16) -> Result<Vec<u8>, WireError> {
    if msg.len() < 12 {
        return Err(WireError::Malformed);
    }
    let mut data = msg.clone();
    data.extend_from_slice(&variables(key, time, fudge, 0, &[])?);
    let mac = key.algorithm.mac(&key.secret, &data);
    let mut rdata = wire::canonical_name(key.algorithm.wire_name())?;
    rdata.extend_from_slice(&time.to_be_bytes()[2..]);
    rdata.extend_from_slice(&fudge.to_be_bytes());
    rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    rdata.extend_from_slice(&mac);
    rdata.extend_from_slice(&msg[0..2]); // original ID
    rdata.extend_from_slice(&0u16.to_be_bytes()); // error
    rdata.extend_from_slice(&0u16.to_be_bytes()); // other len
    wire::RecordOut {
        name: key.name.to_ascii_lowercase(),
        rtype: TYPE_TSIG,
        class: CLASS_ANY,
        ttl: 0,
        rdata,
    }
    .put(msg)?;
    let ar = u16::from_be_bytes([msg[10], msg[11]]).wrapping_add(1);
    msg[10..12].copy_from_slice(&ar.to_be_bytes());
    Ok(mac)
}

struct TsigRdata<'a> {
    algorithm: String,
    time: u64,
    fudge: u16,
    mac: &'a [u8],
    original_id: u16,
    error: u16,
    other: &'a [u8],
}

fn parse_rdata(raw: &[u8]) -> Result<TsigRdata<'_>, TsigError> {
    let (algorithm, mut p) = wire::read_name(raw, 0).map_err(|_| TsigError::Malformed)?;
    let take = |p: &mut usize, n: usize| -> Result<&[u8], TsigError> {
        let s = raw.get(*p..*p + n).ok_or(TsigError::Malformed)?;
        *p += n;
        Ok(s)
    };
    let t = take(&mut p, 6)?;
    let time = t.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let fudge = u16::from_be_bytes(
        take(&mut p, 2)?
            .try_into()
            .map_err(|_| TsigError::Malformed)?,
    );
    let mac_len = u16::from_be_bytes(
        take(&mut p, 2)?
            .try_into()
            .map_err(|_| TsigError::Malformed)?,
    );
    let mac = take(&mut p, usize::from(mac_len))?;
    let original_id = u16::from_be_bytes(
        take(&mut p, 2)?
            .try_into()
            .map_err(|_| TsigError::Malformed)?,
    );
    let error = u16::from_be_bytes(
        take(&mut p, 2)?
            .try_into()
            .map_err(|_| TsigError::Malformed)?,
    );
    let other_len = u16::from_be_bytes(
        take(&mut p, 2)?
            .try_into()
            .map_err(|_| TsigError::Malformed)?,
    );
    let other = take(&mut p, usize::from(other_len))?;
    Ok(TsigRdata {
        algorithm,
        time,
        fudge,
        mac,
        original_id,
        error,
        other,
    })
}

/// Verifies the TSIG of answer `resp` (parsed as `msg`) to a request signed with `request_mac`.
pub fn verify(
    resp: &[u8],
    msg: &wire::Message,
    key: &Key,
    request_mac: &[u8],
    now: u64,
) -> Result<(), TsigError> {
    let rr = msg
        .additional
        .last()
        .filter(|r| r.rtype == TYPE_TSIG)
        .ok_or(TsigError::Unsigned)?;
    let t = parse_rdata(&rr.raw)?;
    if t.error != 0 {
        return Err(TsigError::Server(wire::rcode_name(t.error)));
    }
    if !rr.name.eq_ignore_ascii_case(&wire::fqdn(&key.name))
        || Algorithm::parse(&t.algorithm) != Some(key.algorithm)
    {
        return Err(TsigError::BadMac(key.name.clone()));
    }
    let mut data = Vec::with_capacity(resp.len() + 128);
    data.extend_from_slice(&(request_mac.len() as u16).to_be_bytes());
    data.extend_from_slice(request_mac);
    let mut body = resp.get(..rr.offset).ok_or(TsigError::Malformed)?.to_vec();
    if body.len() < 12 {
        return Err(TsigError::Malformed);
    }
    body[0..2].copy_from_slice(&t.original_id.to_be_bytes());
    let ar = u16::from_be_bytes([body[10], body[11]]).saturating_sub(1);
    body[10..12].copy_from_slice(&ar.to_be_bytes());
    data.extend_from_slice(&body);
    data.extend_from_slice(
        &variables(key, t.time, t.fudge, t.error, t.other).map_err(|_| TsigError::Malformed)?,
    );
    let want = key.algorithm.mac(&key.secret, &data);
    // Constant-time comparison: a MAC check must not leak how many bytes matched.
    let same = want.len() == t.mac.len()
        && want
            .iter()
            .zip(t.mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(TsigError::BadMac(key.name.clone()));
    }
    if now.abs_diff(t.time) > u64::from(t.fudge) {
        return Err(TsigError::BadTime);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(alg: Algorithm) -> Key {
        Key {
            name: "wharf-key.".into(),
            algorithm: alg,
            secret: b"0123456789abcdef0123456789abcdef".to_vec(),
        }
    }

    #[test]
    fn algorithm_names_as_lego_spells_them() {
        assert_eq!(
            Algorithm::parse("hmac-sha256."),
            Some(Algorithm::HmacSha256)
        );
        assert_eq!(Algorithm::parse("HMAC-SHA512"), Some(Algorithm::HmacSha512));
        assert_eq!(
            Algorithm::parse("hmac-md5.sig-alg.reg.int."),
            Some(Algorithm::HmacMd5)
        );
        assert_eq!(Algorithm::parse("gss-tsig."), None);
    }

    #[test]
    fn hmac_md5_matches_rfc2202() {
        // RFC 2202 test case 2.
        let mac = hmac_md5(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "750c783e6ab0b503eaa86e310a5db738");
        let mac = Algorithm::HmacSha256.mac(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// Plays the server: signs an answer the way RFC 8945 says a server does.
    fn signed_answer(req_mac: &[u8], key: &Key, time: u64, tamper: bool) -> Vec<u8> {
        let mut resp = vec![0xab, 0xcd, 0xa8, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        wire::put_name(&mut resp, "wharf.test.").expect("zone");
        resp.extend_from_slice(&[0, 6, 0, 1]);
        let mut data = (req_mac.len() as u16).to_be_bytes().to_vec();
        data.extend_from_slice(req_mac);
        data.extend_from_slice(&resp);
        data.extend_from_slice(&variables(key, time, 300, 0, &[]).expect("vars"));
        let mut mac = key.algorithm.mac(&key.secret, &data);
        if tamper {
            mac[0] ^= 1;
        }
        let mut rdata = wire::canonical_name(key.algorithm.wire_name()).expect("alg");
        rdata.extend_from_slice(&time.to_be_bytes()[2..]);
        rdata.extend_from_slice(&300u16.to_be_bytes());
        rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
        rdata.extend_from_slice(&mac);
        rdata.extend_from_slice(&[0xab, 0xcd, 0, 0, 0, 0]);
        wire::RecordOut {
            name: key.name.clone(),
            rtype: TYPE_TSIG,
            class: CLASS_ANY,
            ttl: 0,
            rdata,
        }
        .put(&mut resp)
        .expect("tsig");
        resp[11] = 1;
        resp
    }

    #[test]
    fn sign_appends_a_record_and_answers_verify() {
        for alg in [
            Algorithm::HmacMd5,
            Algorithm::HmacSha1,
            Algorithm::HmacSha256,
        ] {
            let k = key(alg);
            let mut msg = wire::update(0xabcd, "wharf.test.", &[]).expect("update");
            let unsigned = msg.clone();
            let mac = sign(&mut msg, &k, 1_700_000_000, 300).expect("sign");
            assert_eq!(msg[11], 1, "ARCOUNT bumped");
            let parsed = wire::parse(&msg).expect("parse");
            let rr = &parsed.additional[0];
            assert_eq!(
                (rr.rtype, rr.class, rr.name.as_str()),
                (TYPE_TSIG, CLASS_ANY, "wharf-key.")
            );
            // The MAC covers the unsigned message and the variables.
            let mut data = unsigned.clone();
            data.extend_from_slice(&variables(&k, 1_700_000_000, 300, 0, &[]).expect("vars"));
            assert_eq!(mac, alg.mac(&k.secret, &data));

            let good = signed_answer(&mac, &k, 1_700_000_010, false);
            let p = wire::parse(&good).expect("parse answer");
            assert_eq!(verify(&good, &p, &k, &mac, 1_700_000_020), Ok(()));
            assert_eq!(
                verify(&good, &p, &k, &mac, 1_700_001_000),
                Err(TsigError::BadTime)
            );
            let bad = signed_answer(&mac, &k, 1_700_000_010, true);
            let p = wire::parse(&bad).expect("parse answer");
            assert!(matches!(
                verify(&bad, &p, &k, &mac, 1_700_000_020),
                Err(TsigError::BadMac(_))
            ));
            let p = wire::parse(&unsigned).expect("parse");
            assert_eq!(verify(&unsigned, &p, &k, &mac, 0), Err(TsigError::Unsigned));
        }
    }
}
