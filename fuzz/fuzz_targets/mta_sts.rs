#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smtp_probe_fuzz::policy_checks::check_mta_sts(data);
});
