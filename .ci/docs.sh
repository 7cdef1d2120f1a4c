#!/usr/bin/env bash
# cargo doc with warnings as errors for every feature set of every published crate: default features, all of
# them, none, and each feature alone. The crates and their features are read from `cargo metadata`, so a new
# crate or feature is covered without editing this file. No services needed; run from anywhere in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTDOCFLAGS="-D warnings"
failed=0
sets=$(cargo metadata --format-version 1 --no-deps | python3 -c '
import json, sys
meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
for package in meta["packages"]:
    if package["id"] not in members or package.get("publish") == []:
        continue  # not published
    name = package["name"]
    print(f"{name}|")
    print(f"{name}|--all-features")
    print(f"{name}|--no-default-features")
    for feature in sorted(package["features"]):
        if feature != "default":
            print(f"{name}|--no-default-features --features {feature}")
')
while IFS='|' read -r crate args; do
    # shellcheck disable=SC2086 # the feature arguments are meant to split
    if cargo doc --no-deps -p "$crate" $args >/dev/null 2>"${TMPDIR:-/tmp}/docs.err"; then
        echo "ok    $crate $args"
    else
        echo "FAIL  $crate $args"
        cat "${TMPDIR:-/tmp}/docs.err" >&2
        failed=1
    fi
done <<< "$sets"
exit "$failed"
