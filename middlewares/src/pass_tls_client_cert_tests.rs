//! PassTLSClientCert on real certificates made by rcgen: the exact header values.

use std::sync::Arc;

use http::Request;
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, DnValue, IsCa, Issuer, KeyPair,
    SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;

use super::*;

const SN: [u64; 4] = [2, 5, 4, 5];
const DC: [u64; 7] = [0, 9, 2342, 19200300, 100, 1, 25];

fn ca() -> (Issuer<'static, KeyPair>, CertificateDer<'static>) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CountryName, "US");
    p.distinguished_name
        .push(DnType::OrganizationName, "Issuer Org");
    p.distinguished_name.push(DnType::CommonName, "Test CA");
    p.distinguished_name
        .push(DnType::CustomDnType(SN.to_vec()), "CA-SN-1");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.serial_number = Some(SerialNumber::from(7u64));
    p.not_before = date_time_ymd(2019, 6, 1);
    p.not_after = date_time_ymd(2040, 6, 1);
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    (Issuer::new(p, key), cert.der().clone())
}

fn leaf(issuer: &Issuer<'static, KeyPair>) -> CertificateDer<'static> {
    let mut p = CertificateParams::new(vec!["a.test".to_string(), "b.test".to_string()]).unwrap();
    let dn = &mut p.distinguished_name;
    dn.push(
        DnType::CustomDnType(DC.to_vec()),
        DnValue::Ia5String("example".try_into().unwrap()),
    );
    dn.push(DnType::CountryName, "FR");
    dn.push(DnType::StateOrProvinceName, "Rhone");
    dn.push(DnType::LocalityName, "Lyon");
    dn.push(DnType::OrganizationName, "Wharf, Inc.");
    dn.push(DnType::OrganizationalUnitName, "Edge");
    dn.push(DnType::CommonName, "client.test");
    dn.push(DnType::CustomDnType(SN.to_vec()), "42");
    p.subject_alt_names.extend([
        SanType::URI("spiffe://a.test/x".try_into().unwrap()),
        SanType::IpAddress("10.0.0.1".parse().unwrap()),
        SanType::Rfc822Name("me@a.test".try_into().unwrap()),
        SanType::IpAddress("::ffff:1.2.3.4".parse().unwrap()),
        SanType::IpAddress("2001:db8::1".parse().unwrap()),
    ]);
    p.serial_number = Some(SerialNumber::from_slice(&[0x01, 0x00]));
    p.not_before = date_time_ymd(2020, 1, 2);
    p.not_after = date_time_ymd(2031, 3, 4);
    let key = KeyPair::generate().unwrap();
    p.signed_by(&key, issuer).unwrap().der().clone()
}

fn all_info() -> PassTlsClientCertSpec {
    let json = serde_json::json!({
        "pem": true,
        "info": {
            "notAfter": true, "notBefore": true, "sans": true, "serialNumber": true,
            "subject": {"country": true, "province": true, "locality": true,
                "organization": true, "organizationalUnit": true, "commonName": true,
                "serialNumber": true, "domainComponent": true},
            "issuer": {"country": true, "province": true, "locality": true,
                "organization": true, "commonName": true, "serialNumber": true,
                "domainComponent": true}
        }
    });
    serde_json::from_value(json).unwrap()
}

fn run(
    spec: &PassTlsClientCertSpec,
    chain: Option<Vec<CertificateDer<'static>>>,
) -> http::HeaderMap {
    let f = PassTlsClientCert::compile(spec).unwrap();
    let (mut parts, ()) = Request::new(()).into_parts();
    if let Some(c) = chain {
        parts
            .extensions
            .insert(ClientCertChain::new(Arc::from(c)).unwrap());
    }
    assert!(matches!(f.on_request(&mut parts), Action::Continue));
    parts.headers
}

fn unescape(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

const LEAF_INFO: &str = concat!(
    r#"Subject="DC=example,C=FR,ST=Rhone,L=Lyon,O=Wharf, Inc.,OU=Edge,SN=42,CN=client.test";"#,
    r#"Issuer="C=US,O=Issuer Org,SN=CA-SN-1,CN=Test CA";"#,
    r#"SerialNumber="256";NB="1577923200";NA="1930348800";"#,
    r#"SAN="a.test,b.test,me@a.test,10.0.0.1,1.2.3.4,2001:db8::1,spiffe://a.test/x""#
);
const CA_INFO: &str = concat!(
    r#"Subject="C=US,O=Issuer Org,SN=CA-SN-1,CN=Test CA";"#,
    r#"Issuer="C=US,O=Issuer Org,SN=CA-SN-1,CN=Test CA";"#,
    r#"SerialNumber="7";NB="1559347200";NA="2222121600""#
);

#[test]
fn every_info_field_of_a_chain_in_traefiks_format() {
    let (issuer, ca_der) = ca();
    let leaf_der = leaf(&issuer);
    let h = run(&all_info(), Some(vec![leaf_der.clone(), ca_der.clone()]));
    let info = h["x-forwarded-tls-client-cert-info"].to_str().unwrap();
    assert_eq!(unescape(info), format!("{LEAF_INFO},{CA_INFO}"));
    // Go's QueryEscape: `=` `"` `,` `;` `@` `:` `/` escaped, space as `+`, `.` `-` kept.
    assert!(
        info.starts_with("Subject%3D%22DC%3Dexample%2CC%3DFR%2CST%3DRhone"),
        "{info}"
    );
    assert!(info.contains("O%3DWharf%2C+Inc.%2COU"), "{info}");
    assert!(info.contains("me%40a.test"), "{info}");
    assert!(
        info.contains("spiffe%3A%2F%2Fa.test%2Fx%22%2CSubject"),
        "{info}"
    );

    // pem: base64 of each DER, no delimiters, line breaks or escaping, comma-joined.
    use base64::Engine as _;
    let b64 = |d: &CertificateDer<'_>| base64::engine::general_purpose::STANDARD.encode(d.as_ref());
    assert_eq!(
        h["x-forwarded-tls-client-cert"].to_str().unwrap(),
        format!("{},{}", b64(&leaf_der), b64(&ca_der))
    );
}

#[test]
fn chosen_fields_only_and_empty_sections_left_out() {
    let (issuer, _) = ca();
    let leaf_der = leaf(&issuer);
    let spec: PassTlsClientCertSpec = serde_json::from_value(serde_json::json!({
        "info": {"notAfter": true, "subject": {"commonName": true, "organization": true},
                 "issuer": {"organizationalUnit": true, "locality": true}}
    }))
    // `organizationalUnit` is no issuer option in Traefik: ignored, as its decoder does.
    .unwrap();
    let h = run(&spec, Some(vec![leaf_der]));
    assert!(!h.contains_key("x-forwarded-tls-client-cert"));
    let info = h["x-forwarded-tls-client-cert-info"].to_str().unwrap();
    // The issuer has no locality: no `Issuer=""` field at all.
    assert_eq!(
        unescape(info),
        r#"Subject="O=Wharf, Inc.,CN=client.test";NA="1930348800""#
    );

    // `info: {}`: the header is set, empty, as Go's `Header.Set` with "".
    let spec: PassTlsClientCertSpec =
        serde_json::from_value(serde_json::json!({"info": {}})).unwrap();
    let (issuer, _) = ca();
    let h = run(&spec, Some(vec![leaf(&issuer)]));
    assert_eq!(h["x-forwarded-tls-client-cert-info"], "");
}

#[test]
fn no_client_certificate_sets_nothing() {
    let h = run(&all_info(), None);
    assert!(h.is_empty());
    assert!(ClientCertChain::new(Arc::from(Vec::new())).is_none());
}

#[test]
fn pem_value_is_computed_once_per_connection() {
    let (issuer, _) = ca();
    let chain = ClientCertChain::new(Arc::from(vec![leaf(&issuer)])).unwrap();
    let a = chain.pem_value().unwrap() as *const HeaderValue;
    let b = chain.pem_value().unwrap() as *const HeaderValue;
    assert_eq!(a, b);
}

#[test]
fn info_value_is_cached_per_connection_for_its_fields() {
    let (issuer, _) = ca();
    let chain = ClientCertChain::new(Arc::from(vec![leaf(&issuer)])).unwrap();
    let cn = InfoParts {
        not_after: false,
        not_before: false,
        sans: false,
        serial_number: false,
        subject: Some(DnParts {
            common_name: true,
            ..DnParts::default()
        }),
        issuer: None,
    };
    let na = InfoParts {
        not_after: true,
        subject: None,
        ..cn
    };
    // Alternating configurations on one connection: each gets its own value.
    for _ in 0..2 {
        assert_eq!(
            chain.info_value(&cn).unwrap(),
            "Subject%3D%22CN%3Dclient.test%22"
        );
        assert_eq!(chain.info_value(&na).unwrap(), "NA%3D%221930348800%22");
    }
}

#[test]
fn serial_numbers_as_go_big_int() {
    assert_eq!(serial_decimal(&[0x00]), "0");
    assert_eq!(serial_decimal(&[0x01, 0x00]), "256");
    assert_eq!(serial_decimal(&[0x00, 0xff]), "255");
    assert_eq!(serial_decimal(&[0xff]), "-1");
    assert_eq!(serial_decimal(&[0x80]), "-128");
    assert_eq!(serial_decimal(&[0xff, 0x00]), "-256");
    // 20 bytes, as CAs issue them.
    assert_eq!(
        serial_decimal(&[
            0x3a, 0x9f, 0x1c, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x02,
            0x03, 0x04, 0x05, 0x06, 0x07, 0x08
        ]),
        "334669722362553007975199364450374205097619359496"
    );
}

#[test]
fn query_escape_matches_go() {
    assert_eq!(
        query_escape(b"a b+c=d&e/f~g-h_i.j\"k,l;m"),
        "a+b%2Bc%3Dd%26e%2Ff~g-h_i.j%22k%2Cl%3Bm"
    );
    assert_eq!(query_escape("é".as_bytes()), "%C3%A9");
}
