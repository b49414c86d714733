//! DNS wire format for DNS-01: the few messages the ACME resolver sends (queries for SOA, NS,
//! A/AAAA and TXT; RFC 2136 UPDATE) and a parser for the answers. Parsing never panics on what
//! a server sends: every read is bounds-checked and compression loops are cut.

use std::net::{Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_TSIG: u16 = 250;

pub const CLASS_IN: u16 = 1;
pub const CLASS_NONE: u16 = 254;
pub const CLASS_ANY: u16 = 255;

pub const OPCODE_QUERY: u8 = 0;
pub const OPCODE_UPDATE: u8 = 5;

/// Why a message cannot be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("invalid DNS name `{0}`")]
    Name(String),
    #[error("truncated or malformed DNS message")]
    Malformed,
    #[error("TXT value longer than 255 bytes")]
    TxtTooLong,
}

/// The response codes wharf reports by name (RFC 1035, 2136, 8945).
pub fn rcode_name(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        16 => "BADSIG".into(),
        17 => "BADKEY".into(),
        18 => "BADTIME".into(),
        22 => "BADTRUNC".into(),
        n => format!("RCODE{n}"),
    }
}

/// A fully qualified name with a trailing dot, lower-cased.
pub fn fqdn(name: &str) -> String {
    let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
    format!("{n}.")
}

/// Appends `name` uncompressed (the root is `.` or empty).
pub fn put_name(out: &mut Vec<u8>, name: &str) -> Result<(), WireError> {
    let trimmed = name.trim_end_matches('.');
    let start = out.len();
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(WireError::Name(name.to_string()));
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    if out.len() - start > 255 {
        return Err(WireError::Name(name.to_string()));
    }
    Ok(())
}

/// The canonical (lower-case, uncompressed) wire form of a name, as TSIG digests it.
pub fn canonical_name(name: &str) -> Result<Vec<u8>, WireError> {
    let mut v = Vec::new();
    put_name(&mut v, &name.to_ascii_lowercase())?;
    Ok(v)
}

/// TXT RDATA holding one value (split into 255-byte strings when longer, as DNS requires).
pub fn txt_rdata(value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        out.push(0);
    }
    for chunk in bytes.chunks(255) {
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
    out
}

/// One resource record to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordOut {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

impl RecordOut {
    pub fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_name(out, &self.name)?;
        out.extend_from_slice(&self.rtype.to_be_bytes());
        out.extend_from_slice(&self.class.to_be_bytes());
        out.extend_from_slice(&self.ttl.to_be_bytes());
        let len = u16::try_from(self.rdata.len()).map_err(|_| WireError::Malformed)?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.rdata);
        Ok(())
    }
}

fn header(id: u16, opcode: u8, rd: bool, counts: [u16; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&id.to_be_bytes());
    let mut flags: u16 = u16::from(opcode & 0xf) << 11;
    if rd {
        flags |= 0x0100;
    }
    out.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        out.extend_from_slice(&c.to_be_bytes());
    }
    out
}

/// A standard query for (`name`, `qtype`, IN); `rd` asks for recursion.
pub fn query(id: u16, name: &str, qtype: u16, rd: bool) -> Result<Vec<u8>, WireError> {
    let mut out = header(id, OPCODE_QUERY, rd, [1, 0, 0, 0]);
    put_name(&mut out, name)?;
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

/// An RFC 2136 UPDATE of `zone` with these update-section records (no prerequisites).
pub fn update(id: u16, zone: &str, records: &[RecordOut]) -> Result<Vec<u8>, WireError> {
    let n = u16::try_from(records.len()).map_err(|_| WireError::Malformed)?;
    // Zone section: ZNAME, ZTYPE = SOA, ZCLASS = IN. Update section counts as "NSCOUNT".
    let mut out = header(id, OPCODE_UPDATE, false, [1, 0, n, 0]);
    put_name(&mut out, zone)?;
    out.extend_from_slice(&TYPE_SOA.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    for r in records {
        r.put(&mut out)?;
    }
    Ok(out)
}

/// Adds a TXT record (class IN).
pub fn add_txt(name: &str, value: &str, ttl: u32) -> RecordOut {
    RecordOut {
        name: name.to_string(),
        rtype: TYPE_TXT,
        class: CLASS_IN,
        ttl,
        rdata: txt_rdata(value),
    }
}

/// Deletes one TXT record by value (RFC 2136 §2.5.4: class NONE, TTL 0).
pub fn delete_txt(name: &str, value: &str) -> RecordOut {
    RecordOut {
        name: name.to_string(),
        rtype: TYPE_TXT,
        class: CLASS_NONE,
        ttl: 0,
        rdata: txt_rdata(value),
    }
}

/// Record data wharf reads; everything else is kept raw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// NS or CNAME target.
    Name(String),
    /// SOA: the primary server (MNAME).
    Soa {
        mname: String,
    },
    /// TXT: the character strings joined (as lego compares them).
    Txt(String),
    Other(Vec<u8>),
}

/// A parsed resource record; `offset` is where it starts in the message (TSIG needs it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: RData,
    /// Raw RDATA bytes (compressed names inside are not expanded here).
    pub raw: Vec<u8>,
    pub offset: usize,
}

/// A parsed message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub flags: u16,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
}

impl Message {
    pub fn rcode(&self) -> u16 {
        self.flags & 0x000f
    }
    pub fn truncated(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, WireError> {
        let b = *self.buf.get(self.pos).ok_or(WireError::Malformed)?;
        self.pos += 1;
        Ok(b)
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Malformed)?;
        let s = self.buf.get(self.pos..end).ok_or(WireError::Malformed)?;
        self.pos = end;
        Ok(s)
    }
    /// A possibly compressed name, lower-cased, with a trailing dot.
    fn name(&mut self) -> Result<String, WireError> {
        let (name, next) = read_name(self.buf, self.pos)?;
        self.pos = next;
        Ok(name)
    }
}

/// Reads a name at `pos`; returns it and the position after it (after the first pointer).
pub fn read_name(buf: &[u8], mut pos: usize) -> Result<(String, usize), WireError> {
    let mut labels: Vec<String> = Vec::new();
    let mut end: Option<usize> = None;
    let mut jumps = 0;
    loop {
        let len = *buf.get(pos).ok_or(WireError::Malformed)?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    let after = end.unwrap_or(pos + 1);
                    let mut s = labels.join(".");
                    s.push('.');
                    if s.len() > 256 {
                        return Err(WireError::Malformed);
                    }
                    return Ok((s.to_ascii_lowercase(), after));
                }
                let l = buf
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(WireError::Malformed)?;
                labels.push(String::from_utf8_lossy(l).into_owned());
                pos += 1 + usize::from(len);
            }
            0xc0 => {
                let lo = *buf.get(pos + 1).ok_or(WireError::Malformed)?;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                jumps += 1;
                if jumps > 64 {
                    return Err(WireError::Malformed);
                }
                pos = (usize::from(len & 0x3f) << 8) | usize::from(lo);
            }
            _ => return Err(WireError::Malformed),
        }
    }
}

fn record(r: &mut Reader<'_>) -> Result<Record, WireError> {
    let offset = r.pos;
    let name = r.name()?;
    let rtype = r.u16()?;
    let class = r.u16()?;
    let ttl = r.u32()?;
    let len = usize::from(r.u16()?);
    let start = r.pos;
    let raw = r.bytes(len)?.to_vec();
    let data = match rtype {
        TYPE_A if len == 4 => RData::A(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
        TYPE_AAAA if len == 16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&raw);
            RData::Aaaa(Ipv6Addr::from(a))
        }
        TYPE_NS | TYPE_CNAME => RData::Name(read_name(r.buf, start)?.0),
        TYPE_SOA => RData::Soa {
            mname: read_name(r.buf, start)?.0,
        },
        TYPE_TXT => {
            let mut s = Vec::new();
            let mut i = 0;
            while i < raw.len() {
                let l = usize::from(raw[i]);
                let part = raw.get(i + 1..i + 1 + l).ok_or(WireError::Malformed)?;
                s.extend_from_slice(part);
                i += 1 + l;
            }
            RData::Txt(String::from_utf8_lossy(&s).into_owned())
        }
        _ => RData::Other(raw.clone()),
    };
    Ok(Record {
        name,
        rtype,
        class,
        ttl,
        data,
        raw,
        offset,
    })
}

/// Parses a whole message.
pub fn parse(buf: &[u8]) -> Result<Message, WireError> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    let qd = r.u16()?;
    let an = r.u16()?;
    let ns = r.u16()?;
    let ar = r.u16()?;
    for _ in 0..qd {
        r.name()?;
        r.u16()?;
        r.u16()?;
    }
    let mut m = Message {
        id,
        flags,
        ..Default::default()
    };
    for _ in 0..an {
        m.answers.push(record(&mut r)?);
    }
    for _ in 0..ns {
        m.authority.push(record(&mut r)?);
    }
    for _ in 0..ar {
        m.additional.push(record(&mut r)?);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_encode_and_reject_bad_labels() {
        let mut v = Vec::new();
        put_name(&mut v, "a.Example.").expect("name");
        assert_eq!(v, b"\x01a\x07Example\x00");
        assert_eq!(canonical_name("A.B").expect("name"), b"\x01a\x01b\x00");
        assert!(put_name(&mut Vec::new(), "a..b").is_err());
        assert!(put_name(&mut Vec::new(), &"x".repeat(64)).is_err());
        let mut root = Vec::new();
        put_name(&mut root, ".").expect("root");
        assert_eq!(root, b"\x00");
        assert_eq!(fqdn(" Foo.Test "), "foo.test.");
    }

    #[test]
    fn update_message_layout() {
        let m = update(
            0x1234,
            "wharf.test.",
            &[
                add_txt("_acme-challenge.a.wharf.test.", "v", 120),
                delete_txt("_acme-challenge.a.wharf.test.", "v"),
            ],
        )
        .expect("update");
        // Header: id, opcode 5, ZOCOUNT 1, PRCOUNT 0, UPCOUNT 2, ADCOUNT 0.
        assert_eq!(&m[..12], &[0x12, 0x34, 0x28, 0, 0, 1, 0, 0, 0, 2, 0, 0]);
        let parsed = parse(&m).expect("parse");
        assert_eq!(parsed.authority.len(), 2);
        assert_eq!(parsed.authority[0].class, CLASS_IN);
        assert_eq!(parsed.authority[0].ttl, 120);
        assert_eq!(parsed.authority[0].data, RData::Txt("v".into()));
        assert_eq!(parsed.authority[1].class, CLASS_NONE);
        assert_eq!(parsed.authority[1].ttl, 0);
    }

    #[test]
    fn long_txt_values_are_split_and_joined() {
        let v = "x".repeat(300);
        let rd = txt_rdata(&v);
        assert_eq!(rd[0], 255);
        assert_eq!(rd[256], 45);
        let mut msg = header(1, 0, false, [0, 1, 0, 0]);
        RecordOut {
            name: "t.".into(),
            rtype: TYPE_TXT,
            class: CLASS_IN,
            ttl: 1,
            rdata: rd,
        }
        .put(&mut msg)
        .expect("put");
        assert_eq!(parse(&msg).expect("parse").answers[0].data, RData::Txt(v));
    }

    #[test]
    fn compressed_names_and_hostile_input() {
        // Answer: owner is a pointer to the question name; SOA rdata points too.
        let mut m = header(7, 0, false, [1, 1, 0, 0]);
        m[2] |= 0x80;
        put_name(&mut m, "x.zone.").expect("q");
        m.extend_from_slice(&[0, 6, 0, 1]);
        m.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 14]);
        let p = parse(&m).expect("parse");
        assert!(p.is_response());
        assert_eq!(p.answers[0].name, "x.zone.");
        assert_eq!(
            p.answers[0].data,
            RData::Soa {
                mname: "zone.".into()
            }
        );
        // A pointer loop, a truncated record and random bytes are errors, not panics.
        let mut looped = header(1, 0, false, [1, 0, 0, 0]);
        looped.extend_from_slice(&[0xc0, 12]);
        assert_eq!(parse(&looped), Err(WireError::Malformed));
        assert!(parse(&m[..m.len() - 1]).is_err());
        for seed in 0u32..2000 {
            let bytes: Vec<u8> = (0..40u32)
                .map(|i| (seed.wrapping_mul(2_654_435_761).wrapping_add(i * 97) >> 7) as u8)
                .collect();
            let _ = parse(&bytes);
        }
    }
}
