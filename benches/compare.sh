#!/usr/bin/env bash
# shellcheck disable=SC2154 # FAST_<name>_* are set by start_fast (printf -v)
# Side-by-side load comparison on loopback: smtp-probe (tokio adapter), the minimal floor client, check_smtp and
# blackbox_exporter, against the real loopback Postfix of .ci/postfix.sh and against smtp-probe's own fast
# responder (benches fast-server, a process of its own), same N, same concurrency, repeated R times; medians. Then
# the scale run: 10,000 concurrent plain probes from one process, and memory per in-flight probe.
#
#   bash benches/compare.sh                 # N=2000 C=8 R=5, SCALE=10000
#   N=200 R=1 SCALE=1000 bash benches/compare.sh   # a quick look
#
# Needs: .ci/postfix.sh running (or SKIP_POSTFIX=1), .ci/peers.sh installed (check_smtp, blackbox_exporter), jq.
# The fast server's certificate names mx.test too, so one TLS name serves both. Every target is 127.0.0.1; every
# run has a fixed probe count and per-probe deadlines; each step is also cut by `timeout`. Results: $OUT/results.jsonl (one JSON object per run), $OUT/results.md (the tables).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-2000}
C=${C:-8}
R=${R:-5}
SCALE=${SCALE:-10000}
OUT=${OUT:-target/probe-load}
EXPORTER_PORT=${EXPORTER_PORT:-19115}
SKIP_POSTFIX=${SKIP_POSTFIX:-0}
STEP_TIMEOUT=${STEP_TIMEOUT:-900}

POSTFIX_ENV=${SMTP_PROBE_POSTFIX_DIR:-/var/tmp/smtp-probe-postfix}/env
PEERS_ENV=/var/tmp/smtp-probe-peers/env
set -a
# shellcheck disable=SC1090
[ -f "$POSTFIX_ENV" ] && . "$POSTFIX_ENV"
# shellcheck disable=SC1090
[ -f "$PEERS_ENV" ] && . "$PEERS_ENV"
set +a
CHECK_SMTP=${SMTP_PROBE_CHECK_SMTP:-/usr/lib/nagios/plugins/check_smtp}
BLACKBOX=${SMTP_PROBE_BLACKBOX_EXPORTER:-/usr/bin/prometheus-blackbox-exporter}
PF_HOST=${SMTP_PROBE_POSTFIX_HOST:-127.0.0.1}
PF_PLAIN=${SMTP_PROBE_POSTFIX_PLAIN_PORT:-2525}
PF_TLS=${SMTP_PROBE_POSTFIX_SMTPS_PORT:-2465}
PF_CA=${SMTP_PROBE_POSTFIX_CA:-/var/tmp/smtp-probe-postfix/ca.pem}
PF_NAME=${SMTP_PROBE_POSTFIX_TLS_NAME:-mx.test}
PF_PID_FILE=/var/spool/postfix/pid/master.pid

# Renders results.jsonl as markdown tables: medians over repetitions, ratios against the floor of the same runtime
# and against check_smtp and blackbox_exporter. `bash benches/compare.sh --report FILE` re-renders a saved run.
report() {
    local program
    program=$(cat <<'JQ'
def median: map(select(. != null)) | sort
  | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def r1: if . == null then "-" else (. * 10 | round / 10 | tostring) end;
def r2: if . == null then "-" else (. * 100 | round / 100 | tostring) end;
def x: if . == null then "-" else (. * 100 | round / 100 | tostring) + "×" end;
def rt: if .runtime | startswith("multi") then "multi" elif .runtime == "current_thread" then "current" else "-" end;
def failed: if (.failed | length) > 0 then " \(.failed | tojson)" else "" end;
def rows: group_by([.label, .mode, .tool, .runtime]) | map({
    label: .[0].label, mode: .[0].mode, concurrency: .[0].concurrency, tool: .[0].tool, runtime: .[0].runtime,
    rt: (.[0] | rt), runs: length, probes: (map(.probes) | add), ok: (map(.ok) | add),
    failed: ([.[].failed_by_cause | to_entries[]] | group_by(.key)
             | map({key: .[0].key, value: (map(.value) | add)}) | from_entries),
    cpu: (map(.cpu_per_probe_us) | median),
    user: (map(if .cpu_user_s == null then null else .cpu_user_s / .probes * 1e6 end) | median),
    sys: (map(if .cpu_sys_s == null then null else .cpu_sys_s / .probes * 1e6 end) | median),
    server: (map(.server_cpu_per_probe_us) | median), driver: (map(.driver_cpu_per_probe_us) | median),
    pps: (map(.probes_per_sec) | median), p50: (map(.latency_ms.p50) | median), wall: (map(.wall_s) | median),
    inflight: (map(.peak_inflight) | median), peak_rss: (map(.peak_rss_kib) | median),
    base_rss: (map(.baseline_rss_kib) | median), per_inflight: (map(.rss_per_inflight_kib) | median),
    loadavg: (map(.loadavg | tonumber) | median)});
rows as $rows
| def find($l; $m; $t; $rt): first($rows[] | select(.label == $l and .mode == $m and .tool == $t and .rt == $rt));
def title: if . == "postfix" then "Loopback Postfix 3.7" else "Fast loopback server (smtp-probe's responder, own process)" end;
( ("postfix", "fast") as $server
  | [$rows[] | select(.label == $server)] as $s
  | if ($s | length) == 0 then empty else
    "\n### \($server | title): medians of \($s[0].runs) runs × \($s[0].probes / $s[0].runs) probes, concurrency \($s[0].concurrency)\n",
    "| mode | tool | runtime | client CPU/probe µs | user / sys µs | × floor | server CPU/probe µs | driver CPU/probe µs | probes/s | p50 ms | ok |",
    "|---|---|---|---:|---|---:|---:|---:|---:|---:|---|",
    ( $s | sort_by((.mode as $m | ["plain", "starttls", "tls", "tls-handshake-only"] | index($m)),
                   (.tool as $t | ["floor", "smtp-probe", "check_smtp", "blackbox_exporter"] | index($t)), .runtime)[]
      | . as $r
      | ([find($server; $r.mode; "floor"; (if $r.rt == "-" then "current" else $r.rt end))] | first // null) as $f
      | "| \($r.mode) | \($r.tool) | \($r.runtime) | **\($r.cpu | r1)** | \($r.user | r1) / \($r.sys | r1) | \(if $f then $r.cpu / $f.cpu | x else "-" end) | \($r.server | r1) | \($r.driver | r1) | \($r.pps | r1) | \($r.p50 | r2) | \($r.ok)/\($r.probes)\($r | failed) |" ),
    "",
    "| mode | smtp-probe µs | ÷ floor | check_smtp µs | check_smtp ÷ smtp-probe | blackbox µs | blackbox ÷ smtp-probe | multi-thread: smtp-probe ÷ floor |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ( ("plain", "starttls", "tls") as $m
      | ([find($server; $m; "smtp-probe"; "current")] | first // null) as $p
      | select($p != null)
      | ([find($server; $m; "floor"; "current")] | first // null) as $f
      | ([find($server; $m; "check_smtp"; "-")] | first // null) as $c
      | ([find($server; $m; "blackbox_exporter"; "current")] | first // null) as $b
      | ([find($server; $m; "smtp-probe"; "multi")] | first // null) as $pm
      | ([find($server; $m; "floor"; "multi")] | first // null) as $fm
      | "| \($m) | \($p.cpu | r1) | \(if $f then $p.cpu / $f.cpu | x else "-" end) | \(if $c then $c.cpu | r1 else "n/a" end) | \(if $c then $c.cpu / $p.cpu | x else "n/a" end) | \(if $b then $b.cpu | r1 else "-" end) | \(if $b then $b.cpu / $p.cpu | x else "-" end) | \(if $pm and $fm then $pm.cpu / $fm.cpu | x else "-" end) |" )
    end ),
( [$rows[] | select(.label | startswith("scale"))] as $sc
  | if ($sc | length) == 0 then empty else
    "\n### Scale: concurrent probes from one process (fast server; scale-held: 200 ms before every reply)\n",
    "| run | tool | runtime | mode | ok | wall s | client CPU/probe µs | server CPU/probe µs | peak in flight | baseline RSS KiB | peak RSS KiB | RSS growth / concurrency KiB |",
    "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ( $sc | sort_by(.label, .mode, .tool, .runtime)[]
      | "| \(.label) | \(.tool) | \(.runtime) | \(.mode) | \(.ok)/\(.probes)\(failed) | \(.wall | r2) | \(.cpu | r1) | \(.server | r1) | \(.inflight) | \(.base_rss) | \(.peak_rss) | **\(.per_inflight | r2)** |" )
    end ),
"\nMedian load average (1 min) during the runs: \([$rows[].loadavg] | median)"
JQ
)
    jq -rs "$program" "$1"
}
if [ "${1:-}" = --report ]; then
    report "${2:?usage: compare.sh --report results.jsonl}"
    exit 0
fi

log() { printf '[compare.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[compare.sh] ERROR: %s\n' "$*" >&2; exit 1; }
command -v jq >/dev/null || die "jq is needed"

mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log "building (release)"
cargo build --release -q -p smtp-probe-benches --bin probe-load --bin fast-server
LOAD=target/release/probe-load
FAST=target/release/fast-server

# The 10,000-connection runs need descriptors on both sides; the binaries raise their own soft limits, this
# raises the hard one when allowed.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

start_fast() { # NAME [fast-server args...]: starts one, sets FAST_<NAME>_{PLAIN,TLS,PID,CA}
    local name=$1; shift
    "$FAST" --ca-out "$WORK/$name-ca.pem" "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" &
    PIDS+=($!)
    for _ in $(seq 100); do [ -s "$WORK/$name.json" ] && break; sleep 0.05; done
    [ -s "$WORK/$name.json" ] || die "fast-server $name did not start: $(cat "$WORK/$name.err")"
    printf -v "FAST_${name}_PLAIN" %s "$(jq -r .plain "$WORK/$name.json")"
    printf -v "FAST_${name}_TLS" %s "$(jq -r .tls "$WORK/$name.json")"
    printf -v "FAST_${name}_PID" %s "$(jq -r .pid "$WORK/$name.json")"
    printf -v "FAST_${name}_CA" %s "$WORK/$name-ca.pem"
}
start_fast main
log "fast-server: plain+STARTTLS 127.0.0.1:$FAST_main_PLAIN, TLS 127.0.0.1:$FAST_main_TLS (pid $FAST_main_PID)"

if [ "$SKIP_POSTFIX" != 1 ]; then
    [ -f "$PF_PID_FILE" ] || die "no Postfix master pid file ($PF_PID_FILE): run bash .ci/postfix.sh, or SKIP_POSTFIX=1"
fi

# blackbox_exporter: one module per server and mode. `send` gets "\n" appended by the exporter: "\r" makes CRLF.
# Replies end on "^250 " / "^221 " (the last line), so a keyword's position in the EHLO list does not matter.
bb_module() { # NAME MODE CA
    local name=$1 mode=$2 ca=$3
    printf '  %s:\n    prober: tcp\n    timeout: 10s\n    tcp:\n      preferred_ip_protocol: ip4\n' "$name"
    if [ "$mode" = tls ]; then printf '      tls: true\n'; fi
    if [ "$mode" != plain ]; then
        printf '      tls_config:\n        ca_file: %s\n        server_name: %s\n' "$ca" "$PF_NAME"
    fi
    printf '      query_response:\n        - expect: "^220 "\n'
    if [ "$mode" = starttls ]; then
        printf '        - send: "EHLO probe.example.org\\r"\n        - expect: "^250 "\n'
        printf '        - send: "STARTTLS\\r"\n        - expect: "^220 "\n        - starttls: true\n'
    fi
    printf '        - send: "EHLO probe.example.org\\r"\n        - expect: "^250 "\n'
    printf '        - send: "QUIT\\r"\n        - expect: "^221 "\n'
}
{
    echo "modules:"
    for mode in plain starttls tls; do
        bb_module "fast_$mode" "$mode" "$FAST_main_CA"
        bb_module "postfix_$mode" "$mode" "$PF_CA"
    done
} >"$WORK/blackbox.yml"
"$BLACKBOX" --config.file="$WORK/blackbox.yml" --web.listen-address="127.0.0.1:$EXPORTER_PORT" \
    >"$WORK/blackbox.log" 2>&1 &
BB_PID=$!
PIDS+=("$BB_PID")
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$EXPORTER_PORT") 2>/dev/null && break
    sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$EXPORTER_PORT") 2>/dev/null || die "blackbox_exporter did not start: $(tail -5 "$WORK/blackbox.log")"
log "blackbox_exporter $("$BLACKBOX" --version 2>&1 | head -1 | awk '{print $3}') on 127.0.0.1:$EXPORTER_PORT (pid $BB_PID)"

RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
run() { # LABEL probe-load args...: one run, appended to the results
    local label=$1; shift
    local line
    if ! line=$(timeout "$STEP_TIMEOUT" "$LOAD" --json --label "$label" "$@"); then
        log "  $label: not every probe came back up: $(jq -c '{ok, failed_by_cause}' <<<"$line" 2>/dev/null || echo "$line")"
    fi
    [ -n "$line" ] && jq -c --arg load "$(cut -d' ' -f1 /proc/loadavg)" '. + {loadavg: $load}' <<<"$line" >>"$RESULTS"
    jq -r '"  \(.label) \(.tool) \(.runtime) \(.mode): \(.ok)/\(.probes) ok, \(.cpu_per_probe_us) us CPU/probe, server \(.server_cpu_per_probe_us) us"' <<<"$line" >&2 || true
}

comparison() { # SERVER HOST PLAIN_PORT TLS_PORT CA SERVER_ARGS...
    local server=$1 host=$2 plain=$3 tlsport=$4 ca=$5; shift 5
    local srv=("$@")
    local mode port flags
    for mode in plain starttls tls; do
        case $mode in
            plain) port=$plain flags=() ;;
            starttls) port=$plain flags=(--starttls --ca-file "$ca" --tls-name "$PF_NAME") ;;
            tls) port=$tlsport flags=(--tls --ca-file "$ca" --tls-name "$PF_NAME") ;;
        esac
        local common=(--target "$host:$port" --probes "$N" --concurrency "$C" "${srv[@]}")
        run "$server" --tool floor --runtime current "${common[@]}" "${flags[@]}"
        run "$server" --tool smtp-probe --runtime current "${common[@]}" "${flags[@]}"
        run "$server" --tool floor --runtime multi "${common[@]}" "${flags[@]}"
        run "$server" --tool smtp-probe --runtime multi "${common[@]}" "${flags[@]}"
        if [ "$mode" != tls ]; then # check_smtp 2.3 has no implicit TLS
            local sflag=()
            [ "$mode" = starttls ] && sflag=(--starttls --ca-file "$ca")
            run "$server" --tool check-smtp --check-smtp "$CHECK_SMTP" --warmup 5 "${common[@]}" "${sflag[@]}"
        fi
        if [ "$mode" = tls ]; then # the handshake alone, to split a TLS probe's cost
            run "$server" --tool floor --runtime current --handshake-only "${common[@]}" "${flags[@]}"
        fi
        run "$server" --tool blackbox --exporter "127.0.0.1:$EXPORTER_PORT" --exporter-pid "$BB_PID" \
            --module "${server}_$mode" "${common[@]}" "${flags[@]}"
    done
}

for rep in $(seq "$R"); do
    log "repetition $rep/$R: N=$N C=$C"
    if [ "$SKIP_POSTFIX" != 1 ]; then
        comparison postfix "$PF_HOST" "$PF_PLAIN" "$PF_TLS" "$PF_CA" --server-pid-file "$PF_PID_FILE"
    fi
    comparison fast 127.0.0.1 "$FAST_main_PLAIN" "$FAST_main_TLS" "$FAST_main_CA" --server-pid "$FAST_main_PID"
done

# Scale: SCALE concurrent plain probes from one process against the fast server (Postfix's process limit is 100).
# "fast" answers at once; "held" waits 200 ms before each reply so that every probe is in flight at the same time
# (memory per in-flight probe).
start_fast held --reply-delay-ms 200
for rep in $(seq "$R"); do
    log "scale $rep/$R: $SCALE concurrent probes"
    for rt in current multi; do
        run scale --tool smtp-probe --runtime "$rt" --target "127.0.0.1:$FAST_main_PLAIN" --probes "$SCALE" \
            --concurrency "$SCALE" --server-pid "$FAST_main_PID"
        run scale-held --tool smtp-probe --runtime "$rt" --target "127.0.0.1:$FAST_held_PLAIN" --probes "$SCALE" \
            --concurrency "$SCALE" --server-pid "$FAST_held_PID"
        run scale-held --tool floor --runtime "$rt" --target "127.0.0.1:$FAST_held_PLAIN" --probes "$SCALE" \
            --concurrency "$SCALE" --server-pid "$FAST_held_PID"
    done
    run scale-held --tool smtp-probe --runtime current --target "127.0.0.1:$FAST_held_PLAIN" --probes "$SCALE" \
        --concurrency "$SCALE" --starttls --ca-file "$FAST_held_CA" --tls-name "$PF_NAME" --server-pid "$FAST_held_PID"
    run scale-held --tool floor --runtime current --target "127.0.0.1:$FAST_held_PLAIN" --probes "$SCALE" \
        --concurrency "$SCALE" --starttls --ca-file "$FAST_held_CA" --tls-name "$PF_NAME" --server-pid "$FAST_held_PID"
done

log "tables"
{
    echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC'): N=$N C=$C R=$R SCALE=$SCALE; $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r);"
    echo "check_smtp $("$CHECK_SMTP" -V 2>&1 | awk '{print $2}'), blackbox_exporter $("$BLACKBOX" --version 2>&1 | head -1 | awk '{print $3}'), Postfix $(postconf -h mail_version 2>/dev/null || echo '?'), $(rustc --version)."
    report "$RESULTS"
} >"$OUT/results.md"
cat "$OUT/results.md"
log "results: $RESULTS, $OUT/results.md"
