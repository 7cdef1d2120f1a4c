//! Reads one hostile EHLO reply `ITERATIONS` times, for instruction counts under callgrind (a count a loaded machine
//! cannot disturb): `valgrind --tool=callgrind target/release/ehlo-cost auth 10000 smtp-probe 1`, less the same run
//! with 0 iterations (building the reply), is the cost of reading it once.
//!
//! `ehlo-cost <auth|params> <N> <smtp-probe|smtp-proto> <ITERATIONS>`

use std::hint::black_box;

use smtp_probe_benches::{HostileEhlo, hostile_ehlo, smtp_probe_capabilities, smtp_proto_ehlo};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, n, library, iterations] = args.as_slice() else {
        eprintln!("usage: ehlo-cost <auth|params> <N> <smtp-probe|smtp-proto> <ITERATIONS>");
        std::process::exit(2);
    };
    let kind = match kind.as_str() {
        "auth" => HostileEhlo::AuthMechanisms,
        "params" => HostileEhlo::OneCharParams,
        other => panic!("unknown kind {other:?}"),
    };
    let wire = hostile_ehlo(kind, n.parse().expect("N"));
    for _ in 0..iterations.parse::<usize>().expect("ITERATIONS") {
        match library.as_str() {
            "smtp-probe" => drop(black_box(smtp_probe_capabilities(black_box(&wire)))),
            "smtp-proto" => drop(black_box(smtp_proto_ehlo(black_box(&wire)))),
            other => panic!("unknown library {other:?}"),
        }
    }
}
