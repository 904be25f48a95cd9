# Shared helpers for bench/run: logging, process bookkeeping, timing, TAXII requests,
# the results table. Sourced, not executed.

TAXII11_NS="http://taxii.mitre.org/messages/taxii_xml_binding-1.1"

# Every process this run starts, by pid; stopped by cleanup (and by stop_pid on the way).
STARTED_PIDS=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

now_ns() { date +%s%N; }
# Milliseconds between two now_ns readings.
ms_between() { echo $(( ($2 - $1) / 1000000 )); }

# Register a pid so cleanup stops it.
track() { STARTED_PIDS+=("$1"); }

# Stop one process we started: TERM, wait up to GRACE seconds (default 10), then KILL.
# Returns 0 when it stopped by itself, 1 when it had to be killed.
stop_pid() {
    local pid=$1 grace=${2:-10} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 $((grace * 10))); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 1
}

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid" || true
    done
    STARTED_PIDS=()
}

# A free TCP port on 127.0.0.1 (asked from the kernel, then released).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Peak resident set (VmHWM) of a pid in KiB, 0 when gone.
vm_hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
vm_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Sample the summed VmRSS of a set of pids every 0.1 s into a file until stopped; the
# largest sum is read with rss_sampler_peak. Used for multi-process servers (gunicorn).
# Usage: start_rss_sampler FILE PID...; echo $! is the sampler pid.
start_rss_sampler() {
    local file=$1; shift
    (
        : >"$file"
        while :; do
            local sum=0 p kb
            for p in "$@"; do
                kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
                sum=$((sum + ${kb:-0}))
            done
            echo "$sum" >>"$file"
            sleep 0.1
        done
    ) &
    SAMPLER_PID=$!
    track "$SAMPLER_PID"
}
rss_sampler_peak_kb() { sort -n "$1" | tail -1; }

# POST a TAXII 1.1 XML body (file) and write the response body to OUT.
# Usage: taxii_post URL AUTH_HEADER BODY_FILE OUT [extra curl args...]
# Prints "http_code size_download".
taxii_post() {
    local url=$1 auth=$2 body=$3 out=$4; shift 4
    curl -sS --max-time 600 --cacert "$CA_CRT" -o "$out" -w '%{http_code} %{size_download}\n' \
        -H 'Content-Type: application/xml' -H 'Accept: application/xml' \
        -H "X-TAXII-Content-Type: urn:taxii.mitre.org:message:xml:1.1" \
        -H "X-TAXII-Accept: urn:taxii.mitre.org:message:xml:1.1" \
        -H "X-TAXII-Services: urn:taxii.mitre.org:services:1.1" \
        -H "X-TAXII-Protocol: urn:taxii.mitre.org:protocol:https:1.0" \
        -H "$auth" --data-binary "@$body" "$@" "$url"
}

basic_auth() { printf 'Authorization: Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

# Poll_Request body for COLLECTION with optional window (begin, end; empty = open).
poll_request_xml() {
    local collection=$1 begin=${2:-} end=${3:-} window=""
    [ -n "$begin" ] && window+="<taxii_11:Exclusive_Begin_Timestamp>$begin</taxii_11:Exclusive_Begin_Timestamp>"
    [ -n "$end" ] && window+="<taxii_11:Inclusive_End_Timestamp>$end</taxii_11:Inclusive_End_Timestamp>"
    printf '<taxii_11:Poll_Request xmlns:taxii_11="%s" message_id="%s" collection_name="%s">%s<taxii_11:Poll_Parameters allow_asynch="false"><taxii_11:Response_Type>%s</taxii_11:Response_Type></taxii_11:Poll_Parameters></taxii_11:Poll_Request>' \
        "$TAXII11_NS" "$RANDOM$RANDOM" "$collection" "$window" "${RESPONSE_TYPE:-FULL}"
}

poll_fulfillment_xml() {
    printf '<taxii_11:Poll_Fulfillment xmlns:taxii_11="%s" message_id="%s" collection_name="%s" result_id="%s" result_part_number="%s"/>' \
        "$TAXII11_NS" "$RANDOM$RANDOM" "$1" "$2" "$3"
}

discovery_xml() {
    printf '<taxii_11:Discovery_Request xmlns:taxii_11="%s" message_id="%s"/>' "$TAXII11_NS" "$RANDOM"
}

# Content blocks in a TAXII response file (any prefix).
count_blocks() { grep -o '<[A-Za-z0-9_]*:Content_Block>' "$1" | wc -l; }

# Poll every part of a collection over one connection (py/full_poll.py), each part saved
# as DIR/part-NNNNN.xml (read and dropped instead with FP_DISCARD=1). Sets FP_PARTS, FP_BYTES, FP_MS.
# Usage: full_poll BASE_URL AUTHORIZATION_VALUE COLLECTION DIR
full_poll() {
    local base=$1 auth=$2 collection=$3 dir=$4 hostport json
    hostport=${base#https://}
    rm -rf "$dir"
    json=$(python3 "$BENCH/py/full_poll.py" --host "${hostport%:*}" --port "${hostport##*:}" \
        --authorization "$auth" --collection "$collection" --cafile "$CA_CRT" --out "$dir" \
        ${FP_BINDING:+--binding "$FP_BINDING"} ${FP_DISCARD:+--discard}) \
        || die "full poll of $base failed"
    read -r FP_PARTS FP_BYTES FP_MS < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["parts"], d["bytes"], d["ms"])' "$json")
}

# Blocks in every part of a full poll folder.
count_blocks_dir() { cat "$1"/part-*.xml | grep -o '<[A-Za-z0-9_]*:Content_Block>' | wc -l; }

# Wait until a file contains a pattern (grep -E), up to SECS seconds. Returns 1 on timeout.
wait_for_line() {
    local file=$1 pattern=$2 secs=$3 i
    for i in $(seq 1 $((secs * 50))); do
        grep -qE "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.02
    done
    return 1
}

# --- results --------------------------------------------------------------------------

RESULTS_TSV=""   # set by bench/run: one row per figure

# Record a figure. Usage: result SECTION FIGURE OURS REFERENCE REF_NAME HIGHER_IS_BETTER(1|0) NOTE
# OURS/REFERENCE may be "-" when there is nothing to compare.
result() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS_TSV"
}

# Ratio "ours / reference" (or reference / ours when lower is better), 1 decimal.
ratio() {
    python3 - "$1" "$2" "$3" <<'EOF'
import sys
ours, ref, higher = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
try:
    o, r = float(ours), float(ref)
    q = (o / r) if higher else (r / o)
    print(f"{q:.1f}x" if q >= 10 else f"{q:.2f}x")
except (ValueError, ZeroDivisionError):
    print("-")
EOF
}

# Render the results file as a Markdown table (stdout).
render_table() {
    echo "| Figure | taxii-mirror | Reference | Ratio (ours vs reference) | Notes |"
    echo "|---|---|---|---|---|"
    local section figure ours ref refname higher note last=""
    while IFS=$'\t' read -r section figure ours ref refname higher note; do
        if [ "$section" != "$last" ]; then
            echo "| **$section** | | | | |"
            last=$section
        fi
        local r="-" refcell="$ref"
        if [ "$ref" != "-" ] && [ "$ours" != "-" ]; then r=$(ratio "$ours" "$ref" "$higher"); fi
        [ "$ref" != "-" ] && refcell="$ref ($refname)"
        echo "| $figure | $ours | $refcell | $r | $note |"
    done <"$RESULTS_TSV"
}
