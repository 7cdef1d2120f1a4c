#!/bin/bash
# The clean-build cost of depending on smtp-probe-tokio with default features: a throwaway application outside the
# workspace, built with -j2 into a fresh target directory, debug then release. Prints wall and CPU time (user + sys
# of cargo and every compiler it ran), the crates compiled, and the load average before and after each build.
#
#   benches/dependency-weight.sh            # the working tree
#   benches/dependency-weight.sh REV        # a commit, exported with git archive (for before/after comparisons)
#
# Needs the crates already downloaded (it builds --offline). Run it on a quiet machine, or compare CPU times.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ $# -ge 1 ]; then
    mkdir "$work/src-tree" && git -C "$repo" archive "$1" | tar -x -C "$work/src-tree"
    tree="$work/src-tree"
else
    tree="$repo"
fi
mkdir -p "$work/app/src"
cat > "$work/app/Cargo.toml" <<TOML
[package]
name = "weight-app"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
smtp-probe-tokio = { path = "$tree/smtp-probe-tokio" }
tokio = { version = "1", features = ["rt", "macros"] }

[workspace]
TOML
cat > "$work/app/src/main.rs" <<'RS'
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), smtp_probe_tokio::Error> {
    let config = smtp_probe_tokio::ProbeConfig::builder("127.0.0.1:2525".parse()?).build()?;
    println!("{}", smtp_probe_tokio::probe(&config).await.summary());
    Ok(())
}
RS
cp "$tree/Cargo.lock" "$work/app/Cargo.lock" # the workspace's versions; cargo drops what the app does not use
cd "$work/app"
cargo tree --offline -e normal,build --prefix none | sed 's/ (.*//' | sort -u | grep -vc '^weight-app' | xargs echo "packages in the graph:"
for profile in debug release; do
    flag=""; [ "$profile" = release ] && flag="--release"
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    CARGO_TARGET_DIR="$work/target-$profile" /usr/bin/time -f "%e %U %S" -o "$work/time" \
        cargo build -j2 $flag --offline > "$work/build.log" 2>&1
    read -r wall user sys < "$work/time"
    printf '%-7s wall %6.1f s  cpu %6.1f s  crates compiled %d  load %s -> %s\n' "$profile" "$wall" \
        "$(echo "$user + $sys" | bc)" "$(grep -c '^ *Compiling' "$work/build.log")" "$load_before" \
        "$(cut -d' ' -f1-3 /proc/loadavg)"
    rm -rf "$work/target-$profile"
done
