#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // One simulated start instant for every run: the core never reads the clock, the harness does, once.
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    let _report = smtp_probe_proto::testing::fuzz::imap_session::check(data, start);
});
