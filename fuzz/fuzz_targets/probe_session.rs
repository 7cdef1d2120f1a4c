#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The probe never reads the clock: this instant is only the simulated connection time.
    let _report = smtp_probe_proto::testing::fuzz::probe_session::check(data, Instant::now());
});
