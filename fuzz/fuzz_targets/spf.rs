#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _outcome = smtp_probe_proto::testing::fuzz::spf::check(data);
});
