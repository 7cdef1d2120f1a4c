//! Reading hostile EHLO replies: cost against size, for smtp-probe and smtp-proto on the same bytes.
//!
//! * `auth_mechanisms`: one EHLO reply advertising N distinct AUTH mechanisms (N = 1,000, 10,000, 100,000), the
//!   one the probe needs (`PLAIN`) last.
//! * `one_char_params`: one EHLO reply with N one-character parameters on an unknown keyword (N = 1,000, 10,000,
//!   100,000: the trust issue's 60 KB case is N = 30,000).
//!
//! smtp-probe frames the reply (`ReplyParser`, limits raised to let it through) and reads it into `Capabilities`;
//! smtp-proto runs `EhloResponse::parse` on the same bytes. Throughput is per mechanism or parameter, so a
//! constant time per element is linear cost. `cargo bench --bench capabilities`; the `ehlo-cost` tool gives the
//! same work as instruction counts under callgrind.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use smtp_probe_benches::{HostileEhlo, hostile_ehlo, smtp_probe_capabilities, smtp_proto_ehlo};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

fn bench(c: &mut Criterion, name: &str, kind: HostileEhlo) {
    let mut group = c.benchmark_group(name);
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(20);
    for n in SIZES {
        let wire = hostile_ehlo(kind, n);
        assert!(smtp_probe_capabilities(&wire).supports_auth(&smtp_probe_proto::AuthMechanism::Plain));
        assert_ne!(smtp_proto_ehlo(&wire).auth_mechanisms, 0);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("smtp-probe", n), &wire, |b, w| {
            b.iter(|| black_box(smtp_probe_capabilities(w)))
        });
        group.bench_with_input(BenchmarkId::new("smtp-proto", n), &wire, |b, w| {
            b.iter(|| black_box(smtp_proto_ehlo(w)))
        });
    }
    group.finish();
}

fn auth_mechanisms(c: &mut Criterion) {
    bench(c, "auth_mechanisms", HostileEhlo::AuthMechanisms);
}

fn one_char_params(c: &mut Criterion) {
    bench(c, "one_char_params", HostileEhlo::OneCharParams);
}

criterion_group!(benches, auth_mechanisms, one_char_params);
criterion_main!(benches);
