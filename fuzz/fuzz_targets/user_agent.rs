//! The User-Agent parser behind session devices and new-device mails: any header value
//! parses, and the fingerprint is a stable 16-hex-digit id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_server::device;

fuzz_target!(|agent: &str| {
    let parsed = device::parse(Some(agent));
    assert!(!parsed.browser.is_empty() && !parsed.os.is_empty() && !parsed.device.is_empty());
    let fingerprint = device::fingerprint(Some(agent));
    if let Some(id) = &fingerprint {
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_eq!(
        fingerprint,
        device::fingerprint(Some(agent)),
        "deterministic"
    );
});
