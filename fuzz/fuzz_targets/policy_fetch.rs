#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smtp_probe_proto::testing::fuzz::policy_fetch::check(data, std::time::Instant::now());
});
