//! Cost of a chain of common middlewares per request (issue 4 point 4; compress is not a filter
//! yet). Run with `cargo bench -p wharf-middlewares --bench chain`. Prints nanoseconds and heap
//! allocations per request (request + response phase), measured with a counting allocator.

// A counting global allocator needs `unsafe impl GlobalAlloc`; it only forwards to System.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wharf_middlewares::{
    compile, run_request, run_response, ChainOutcome, CompileCtx, ConnInfo, Filter, FlowState,
    MiddlewareSpec,
};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn filter(yaml: &str) -> Filter {
    let spec: MiddlewareSpec = serde_norway::from_str(yaml).expect("yaml");
    compile("bench@file", &spec, &CompileCtx::default()).expect("compile")
}

fn main() {
    let chains: Vec<(&str, Vec<Filter>)> = vec![
        ("empty", vec![]),
        ("passTLSClientCert pem (2-cert chain)", vec![filter("passTLSClientCert: {pem: true}")]),
        (
            "passTLSClientCert every info field (2-cert chain)",
            vec![filter(
                "passTLSClientCert: {info: {notAfter: true, notBefore: true, sans: true, serialNumber: true, \
                 subject: {country: true, province: true, locality: true, organization: true, organizationalUnit: true, commonName: true, serialNumber: true, domainComponent: true}, \
                 issuer: {country: true, province: true, locality: true, organization: true, commonName: true, serialNumber: true, domainComponent: true}}}",
            )],
        ),
        (
            "headers+stripPrefix+rateLimit+basicAuth",
            vec![
                filter("headers: {customRequestHeaders: {X-Env: prod}, customResponseHeaders: {X-Served-By: wharf}, frameDeny: true}"),
                filter("stripPrefix: {prefixes: [/api]}"),
                filter("rateLimit: {average: 1000000000, burst: 1000000000}"),
                filter("basicAuth: {users: ['u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=']}"),
                filter("ipAllowList: {sourceRange: [10.0.0.0/8]}"),
            ],
        ),
    ];
    let conn = ConnInfo {
        remote_ip: "10.1.2.3".parse().expect("ip"),
        tls: false,
    };
    let template = http::Request::get("/api/users/42?x=1")
        .header("host", "app.example")
        .header("authorization", "Basic dTpwYXNzd29yZA==")
        .header("user-agent", "bench")
        .body(())
        .expect("request")
        .into_parts()
        .0;
    let resp_template = http::Response::builder()
        .header("content-type", "text/plain")
        .body(())
        .expect("response")
        .into_parts()
        .0;
    let certs = client_chain();
    const N: u64 = 200_000;
    for (name, chain) in &chains {
        let mut total_ns = 0u128;
        let mut allocs = 0u64;
        for _ in 0..N {
            // Cloning the templates is setup, not measured.
            let mut parts = clone_req(&template);
            // The proxy puts the connection's chain (one Arc per connection) in every request.
            parts.extensions.insert(certs.clone());
            let mut resp = clone_resp(&resp_template);
            let a0 = ALLOCS.load(Ordering::Relaxed);
            let t0 = Instant::now();
            let mut flow = FlowState::default();
            match run_request(chain, 0, &mut parts, &conn, &mut flow) {
                ChainOutcome::Forward => run_response(chain, chain.len(), &mut resp, &conn, &flow),
                other => panic!("unexpected {other:?}"),
            }
            drop(flow);
            total_ns += t0.elapsed().as_nanos();
            allocs += ALLOCS.load(Ordering::Relaxed) - a0;
            std::hint::black_box((&parts, &resp));
        }
        println!(
            "{name:45} {:7.0} ns/request  {:5.2} allocations/request",
            total_ns as f64 / N as f64,
            allocs as f64 / N as f64
        );
    }
}

/// A client leaf (with SANs and a full subject) and its CA, as an mTLS client sends them.
fn client_chain() -> std::sync::Arc<wharf_middlewares::ClientCertChain> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.distinguished_name.push(DnType::CommonName, "bench CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "Bench");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("key");
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["client.example".to_string()]).expect("params");
    for (t, v) in [
        (DnType::CountryName, "FR"),
        (DnType::OrganizationName, "Acme"),
        (DnType::OrganizationalUnitName, "Edge"),
        (DnType::CommonName, "client"),
    ] {
        leaf.distinguished_name.push(t, v);
    }
    leaf.subject_alt_names
        .push(SanType::IpAddress("10.0.0.1".parse().expect("ip")));
    let key = KeyPair::generate().expect("key");
    let leaf = leaf.signed_by(&key, &issuer).expect("leaf");
    wharf_middlewares::ClientCertChain::new(std::sync::Arc::from(vec![
        leaf.der().clone(),
        ca_cert.der().clone(),
    ]))
    .expect("chain")
}

fn clone_req(p: &http::request::Parts) -> http::request::Parts {
    let mut b = http::Request::builder()
        .method(p.method.clone())
        .uri(p.uri.clone())
        .version(p.version);
    for (k, v) in &p.headers {
        b = b.header(k, v);
    }
    b.body(()).expect("clone").into_parts().0
}

fn clone_resp(p: &http::response::Parts) -> http::response::Parts {
    let mut b = http::Response::builder().status(p.status);
    for (k, v) in &p.headers {
        b = b.header(k, v);
    }
    b.body(()).expect("clone").into_parts().0
}
