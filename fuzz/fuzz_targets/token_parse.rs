//! Token extraction, splitting, header and claims parsing on arbitrary bytes: never a panic;
//! whatever the strict readers accept is one JSON object with unique member names (checked by an
//! independent reader), the one-pass readers (`claims::parse`, `token::Header::read`) agree
//! exactly with their `serde_json`-based references, a split token's parts are exactly the
//! token's text, and the header the verification path keeps per thread (`token::header`) is the
//! one read afresh.
#![no_main]

use authorizer::{claims, token};
use authorizer_fuzz::is_unique_object;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The Authorization value path: extract, split, read the header and the payload.
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = token::extract(s, 8192) {
            assert!(t.len() <= 8192);
            assert!(t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
            assert!(s.contains(t));
            let mut buf = token::Buf::new();
            if let Ok(p) = token::split(t, &mut buf) {
                assert!(t.as_bytes().starts_with(p.signing_input));
                assert_eq!(t.matches('.').count(), 2);
                // the verification path's header (kept per thread) is the one read afresh
                let text = t.split('.').next().unwrap_or_default();
                assert_eq!(
                    token::header(text).ok().as_deref(),
                    Some(&p.header),
                    "a kept header differs from reading it"
                );
                if claims::parse(p.payload).is_ok() {
                    assert!(
                        is_unique_object(p.payload),
                        "accepted payload not a unique object"
                    );
                }
            }
        }
    }
    // The JSON readers straight on the bytes.
    let header: Result<token::Header<'static>, _> = serde_json::from_slice(data);
    assert_eq!(
        token::Header::read(data).ok().as_ref(),
        header.as_ref().ok(),
        "the one-pass header reader and its reference disagree"
    );
    assert_eq!(
        claims::parse(data),
        claims::parse_reference(data),
        "the one-pass claims reader and its reference disagree"
    );
    if header.is_ok() {
        assert!(
            is_unique_object(data),
            "accepted header is not a unique-member object"
        );
    }
    if claims::parse(data).is_ok() {
        assert!(
            is_unique_object(data),
            "accepted claims are not a unique-member object"
        );
    }
});
