use super::*;

#[test]
fn rfc3339_formats_utc() {
    assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339_secs(1_798_915_915), "2027-01-02T18:51:55Z");
    assert_eq!(rfc3339_secs(951_782_400), "2000-02-29T00:00:00Z");
}
