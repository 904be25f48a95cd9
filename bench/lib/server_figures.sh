# Server figures: inbox load, store size, startup, full poll (MB/s, peak RSS),
# small-window polls per second with p99 at several concurrencies; taxii-mirror against
# OpenTAXII 0.9.3 and (full poll) nginx. Sourced, not executed.

# Keep the CACHE_KEEP most recently used entries of one kind under CACHE (the newest
# first by mtime); older ones are deleted. Usage: prune_cache PREFIX
prune_cache() {
    local prefix=$1 old
    # shellcheck disable=SC2012
    ls -1td "$CACHE/$prefix"* 2>/dev/null | tail -n +$((CACHE_KEEP + 1)) | while read -r old; do
        log "cache: removing $old (CACHE_KEEP=$CACHE_KEEP)"
        rm -rf "$old"
    done
}

# Generate the inbox batches once per (BLOCKS, SEED, BATCH): CACHE/blocks-BLOCKS-SEED-BATCH,
# reused by every later run with the same parameters.
prepare_blocks() {
    BLOCKS_DIR=$CACHE/blocks-$BLOCKS-$SEED-$BATCH
    if [ ! -f "$BLOCKS_DIR/done" ]; then
        log "generating $BLOCKS STIX packages (~4 KB each) in inbox batches of $BATCH into $BLOCKS_DIR"
        rm -rf "$BLOCKS_DIR"
        local t0; t0=$(now_ns)
        python3 "$BENCH/py/inbox_batches.py" gen --count "$BLOCKS" --seed "$SEED" --batch "$BATCH" \
            --collection bench --out "$BLOCKS_DIR" --meta "$BLOCKS_DIR/meta.json" --jobs 2 || die "generation failed"
        touch "$BLOCKS_DIR/done"
        log "generated in $(( $(ms_between "$t0" "$(now_ns)") / 1000 )) s"
    else
        log "reusing the generated blocks in $BLOCKS_DIR"
        touch "$BLOCKS_DIR"
    fi
    prune_cache blocks-
    RAW_BYTES=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["raw_bytes"])' "$BLOCKS_DIR/meta.json")
}

# Post every file of a folder as an inbox message; dies unless each answers SUCCESS.
# Usage: inbox_all URL AUTH_HEADER DIR. Sets INBOX_MS.
inbox_all() {
    local url=$1 auth=$2 dir=$3 f code t0
    t0=$(now_ns)
    for f in "$dir"/inbox-*.xml; do
        read -r code _ < <(taxii_post "$url" "$auth" "$f" "$WORK/inbox-reply.xml")
        if [ "$code" != 200 ] || ! grep -q 'status_type="SUCCESS"' "$WORK/inbox-reply.xml"; then
            die "inbox of $f: HTTP $code $(head -c 400 "$WORK/inbox-reply.xml")"
        fi
    done
    INBOX_MS=$(ms_between "$t0" "$(now_ns)")
}

# Run wrk. Usage: run_wrk URL CONNS WINDOWS_FILE COLLECTION AUTH_VALUE OUTFILE [SECS].
# A request is timed out after SECS (default WRK_SECS, at least 10 s).
# Sets WRK_RPS, WRK_P99_MS, WRK_BAD (bad responses + socket errors).
run_wrk() {
    local url=$1 conns=$2 windows=$3 collection=$4 auth=$5 out=$6 secs=${7:-$WRK_SECS} threads=$WRK_THREADS
    local timeout=$(( secs > 10 ? secs : 10 ))
    [ "$conns" -lt "$threads" ] && threads=$conns
    "$WRK" -t "$threads" -c "$conns" -d "${secs}s" --timeout "${timeout}s" --latency \
        -s "$BENCH/lib/poll.lua" "$url" -- "$windows" "$collection" "$auth" >"$out" 2>&1 \
        || die "wrk failed: $(tail -5 "$out")"
    WRK_RPS=$(awk '/^Requests\/sec:/ {printf ($2 < 10 ? "%.2f" : "%.0f"), $2}' "$out")
    WRK_P99_MS=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.1f", v}' "$out")
    local socket_errors non2xx
    socket_errors=$(awk '/Socket errors/ {gsub(",",""); s=0; for (i=1;i<=NF;i++) if ($i ~ /^[0-9]+$/) s+=$i; print s}' "$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
    WRK_BAD=$(( $(awk '/^bad_responses/ {print $2}' "$out") + ${socket_errors:-0} + ${non2xx:-0} ))
    [ -n "$WRK_RPS" ] || die "no wrk result in $out"
}

# Every match of REGEX (its first group, if it has one) in FILE, one per line. Read in
# chunks: the file is one line of up to 4 GB. Usage: scan_file FILE REGEX
scan_file() {
    python3 - "$1" "$2" <<'EOF'
import re, sys
pat = re.compile(sys.argv[2].encode())
out = sys.stdout.buffer
with open(sys.argv[1], "rb") as f:
    carry = b""
    while True:
        chunk = f.read(1 << 22)
        data = carry + chunk
        last = 0
        for m in pat.finditer(data):
            out.write((m.group(1) if pat.groups else m.group(0)) + b"\n")
            last = m.end()
        if not chunk:
            break
        carry = data[max(last, len(data) - 256):]
EOF
}

# The timestamp labels of every block of a full poll file, in order.
labels_of() { scan_file "$1" ':Timestamp_Label>([^<]+)<'; }

# Content blocks in a file of any size.
count_blocks_file() { scan_file "$1" '<[A-Za-z0-9_]*:Content_Block>' | wc -l; }

# Windows (label[i], label[i+WINDOW]] for NWINDOWS random i. Usage: make_windows LABELS OUT
make_windows() {
    python3 - "$1" "$2" "$WINDOW" "$NWINDOWS" <<'EOF'
import random, sys
labels = [l.strip() for l in open(sys.argv[1]) if l.strip()]
k, n = int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(7)
with open(sys.argv[2], "w") as out:
    for _ in range(n):
        i = rng.randrange(0, len(labels) - k)
        out.write(f"{labels[i]} {labels[i + k]}\n")
EOF
}

# Check that the first window of a windows file returns exactly WINDOW blocks.
check_window() {
    local url=$1 auth=$2 windows=$3 name=$4 b e n
    read -r b e <"$windows"
    poll_request_xml bench "$b" "$e" >"$WORK/window.xml"
    taxii_post "$url" "$auth" "$WORK/window.xml" "$WORK/window-reply.xml" >/dev/null
    n=$(count_blocks "$WORK/window-reply.xml")
    [ "$n" = "$WINDOW" ] || die "$name: window ($b, $e] gave $n blocks, expected $WINDOW: $(head -c 400 "$WORK/window-reply.xml")"
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
mb() { python3 -c "import sys; print(f'{int(sys.argv[1]) / 1e6:.1f}')" "$1"; }
mbps() { python3 -c "import sys; b, ms = float(sys.argv[1]), float(sys.argv[2]); print(f'{b / 1000 / ms:.1f}' if ms > 0 else '-')" "$1" "$2"; }
per_sec() { python3 -c "import sys; n, ms = float(sys.argv[1]), float(sys.argv[2]); print(f'{n * 1000 / ms:.{int(sys.argv[3])}f}' if ms > 0 else '-')" "$1" "$2" "${3:-0}"; }

run_server_figures() {
    prepare_blocks
    local raw_mb; raw_mb=$(mb "$RAW_BYTES")
    local ours_auth; ours_auth=$(basic_auth "$BENCH_USER" "$BENCH_PASSWORD")
    local ours_auth_value=${ours_auth#Authorization: }

    # ---- taxii-mirror: load by inbox ----
    local data=$WORK/ours-data cfg=$WORK/ours.toml ours_inbox_rate ours_load_hwm
    ours_config "$cfg" "$data" bench
    if [ -n "${RESUME_INBOX_MS:-}" ] && [ -f "$data/FORMAT" ]; then
        # A run that stopped after loading: the store it loaded, and its inbox time.
        log "taxii-mirror: reusing the loaded store in $data (inbox took $RESUME_INBOX_MS ms)"
        ours_inbox_rate=$(per_sec "$BLOCKS" "$RESUME_INBOX_MS")
        ours_load_hwm=0
    else
        rm -rf "$data"
        start_ours "$cfg" "$WORK/ours-load.log"
        log "taxii-mirror: inbox of $BLOCKS blocks ($raw_mb MB) in $(ls "$BLOCKS_DIR"/inbox-*.xml | wc -l) messages"
        inbox_all "$OURS_URL/services/inbox" "$ours_auth" "$BLOCKS_DIR"
        ours_inbox_rate=$(per_sec "$BLOCKS" "$INBOX_MS")
        ours_load_hwm=$(vm_hwm_kb "$OURS_PID")
        stop_ours "$OURS_PID"
    fi
    local ours_store; ours_store=$(du -sb "$data" | cut -f1)

    # ---- taxii-mirror: restart on the loaded store, full poll, windows ----
    # Startup: STARTUP_RUNS starts on the loaded store, the median reported; the last one
    # stays up for the full poll (so its VmHWM covers opening the store and the poll).
    local starts=() k
    for k in $(seq 1 "$STARTUP_RUNS"); do
        start_ours "$cfg" "$WORK/ours.log"
        starts+=("$OURS_STARTUP_MS")
        if [ "$k" -lt "$STARTUP_RUNS" ]; then stop_ours "$OURS_PID"; fi
    done
    local ours_startup ours_starts="${starts[*]}"
    ours_startup=$(median "${starts[@]}")
    log "taxii-mirror: started on the loaded store in $ours_startup ms; full poll"
    full_poll "$OURS_URL" "$ours_auth_value" bench "$WORK/poll-ours"
    local ours_fp_ms=$FP_MS ours_fp_bytes=$FP_BYTES ours_fp_parts=$FP_PARTS
    local ours_fp_hwm; ours_fp_hwm=$(vm_hwm_kb "$OURS_PID")
    # The parts, concatenated one by one into the file nginx serves later (so the disk
    # holds one copy: 4 GB at 1,000,000 blocks).
    mkdir -p "$WORK/static"
    : >"$WORK/static/full.xml"
    local f
    for f in "$WORK"/poll-ours/part-*.xml; do cat "$f" >>"$WORK/static/full.xml" && rm -f "$f"; done
    rm -rf "$WORK/poll-ours"
    local ours_fp_blocks; ours_fp_blocks=$(count_blocks_file "$WORK/static/full.xml")
    [ "$ours_fp_blocks" = "$BLOCKS" ] || die "taxii-mirror full poll returned $ours_fp_blocks blocks, expected $BLOCKS"
    labels_of "$WORK/static/full.xml" >"$WORK/labels-ours.txt"
    # A second pass, with the store's pages now cached: reported in the notes.
    FP_DISCARD=1 full_poll "$OURS_URL" "$ours_auth_value" bench "$WORK/poll-ours-2"
    local ours_fp2_mbps; ours_fp2_mbps=$(mbps "$FP_BYTES" "$FP_MS")
    # Against nginx's best of two reads of the same bytes: ours best of these two passes.
    local ours_fp_best_ms=$ours_fp_ms
    [ "$FP_MS" -lt "$ours_fp_best_ms" ] && ours_fp_best_ms=$FP_MS
    rm -rf "$WORK/poll-ours-2"
    make_windows "$WORK/labels-ours.txt" "$WORK/windows-ours.txt"
    check_window "$OURS_URL/services/poll" "$ours_auth" "$WORK/windows-ours.txt" taxii-mirror
    declare -A ours_rps ours_p99 ours_bad
    local c
    for c in $WRK_CONNS; do
        log "taxii-mirror: small-window polls, $c connections, ${WRK_SECS}s"
        run_wrk "$OURS_URL/services/poll" "$c" "$WORK/windows-ours.txt" bench "$ours_auth_value" "$WORK/wrk-ours-$c.txt"
        ours_rps[$c]=$WRK_RPS; ours_p99[$c]=$WRK_P99_MS; ours_bad[$c]=$WRK_BAD
    done
    local ours_wrk_hwm; ours_wrk_hwm=$(vm_hwm_kb "$OURS_PID")
    stop_ours "$OURS_PID"
    rm -rf "$data"

    # ---- OpenTAXII: load by SQL, restart, full poll, windows ----
    local otdir=$WORK/opentaxii otport; otport=$(free_port)
    opentaxii_prepare "$otdir" "$otport"
    # The loaded database is kept in CACHE per (BLOCKS, SEED, PART_BLOCKS) and copied in on
    # later runs: OpenTAXII's code is pinned, so the rows it serves are the same (the load
    # takes minutes at 1,000,000 blocks; the copy seconds).
    local ot_cache=$CACHE/opentaxii-$BLOCKS-$SEED-$PART_BLOCKS ot_load_ms ot_load_note
    if [ -f "$ot_cache/done" ]; then
        log "OpenTAXII: copying its loaded sqlite store from $ot_cache"
        cp "$ot_cache/data.db" "$otdir/data.db" || die "copy of $ot_cache/data.db failed"
        touch "$ot_cache"
        ot_load_ms=$(cat "$ot_cache/load_ms")
        ot_load_note="the bulk was loaded by SQL in ${ot_load_ms} ms in an earlier run and copied in"
    else
        log "OpenTAXII: loading $BLOCKS blocks into its sqlite store with SQLAlchemy Core"
        local t0; t0=$(now_ns)
        (cd "$BENCH/py" && OPENTAXII_CONFIG=$otdir/opentaxii.yml "$VENV/bin/python" opentaxii_load.py \
            --db "sqlite:///$otdir/data.db" --collection bench --count "$BLOCKS" --seed "$SEED") \
            || die "OpenTAXII load failed"
        ot_load_ms=$(ms_between "$t0" "$(now_ns)")
        ot_load_note="the bulk was loaded by SQL in ${ot_load_ms} ms"
        rm -rf "$ot_cache"
        # Kept only when the disk has room for it and the rest of the run (8 GB to spare).
        local need=$(( $(stat -c %s "$otdir/data.db") / 1024 + 8 * 1024 * 1024 ))
        if [ "$(df -Pk "$CACHE" | awk 'NR == 2 {print $4}')" -gt "$need" ]; then
            mkdir -p "$ot_cache"
            cp "$otdir/data.db" "$ot_cache/data.db" && echo "$ot_load_ms" >"$ot_cache/load_ms" \
                && touch "$ot_cache/done" || log "warning: could not keep OpenTAXII's store in $ot_cache"
        else
            log "OpenTAXII: not keeping its loaded store in $CACHE (too little disk space)"
        fi
    fi
    prune_cache opentaxii-
    local ot_store; ot_store=$(stat -c %s "$otdir/data.db")
    starts=()
    for k in $(seq 1 "$STARTUP_RUNS"); do
        start_opentaxii "$otdir" "$otport"
        starts+=("$OT_STARTUP_MS")
        if [ "$k" -lt "$STARTUP_RUNS" ]; then stop_pid "$OT_PID" || true; fi
    done
    local ot_startup ot_starts="${starts[*]}" ot_auth="Authorization: Bearer $OT_TOKEN"
    ot_startup=$(median "${starts[@]}")

    log "OpenTAXII: inbox sample of $OT_INBOX_SAMPLE blocks"
    rm -rf "$WORK/ot-inbox"
    python3 "$BENCH/py/inbox_batches.py" gen --count "$OT_INBOX_SAMPLE" --seed $((SEED + 1)) --batch "$BATCH" \
        --collection bench-inbox --out "$WORK/ot-inbox" --meta "$WORK/ot-inbox/meta.json" 2>/dev/null
    inbox_all "$OT_URL/services/inbox" "$ot_auth" "$WORK/ot-inbox"
    local ot_inbox_rate; ot_inbox_rate=$(per_sec "$OT_INBOX_SAMPLE" "$INBOX_MS")

    local ot_fp_ms=0 ot_fp_bytes=0 ot_fp_parts=0 ot_fp_rss=0 ot_fp_blocks=0
    if [ "$OT_FULL_POLL" = 1 ]; then
        log "OpenTAXII: full poll"
        start_rss_sampler "$WORK/rss-ot.txt" $(opentaxii_pids)
        local sampler=$SAMPLER_PID
        full_poll "$OT_URL" "Bearer $OT_TOKEN" bench "$WORK/poll-ot"
        ot_fp_ms=$FP_MS ot_fp_bytes=$FP_BYTES ot_fp_parts=$FP_PARTS
        stop_pid "$sampler" || true
        ot_fp_rss=$(rss_sampler_peak_kb "$WORK/rss-ot.txt")
        ot_fp_blocks=$(count_blocks_dir "$WORK/poll-ot")
        [ "$ot_fp_blocks" = "$BLOCKS" ] || log "warning: OpenTAXII full poll returned $ot_fp_blocks blocks, expected $BLOCKS"
        rm -rf "$WORK/poll-ot"
    else
        log "OpenTAXII: full poll skipped (OT_FULL_POLL=0)"
    fi
    "$VENV/bin/python" - "$BLOCKS" >"$WORK/labels-ot.txt" <<'EOF'
import sys, datetime
base = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
for i in range(int(sys.argv[1])):
    print((base + datetime.timedelta(microseconds=i * 1000)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
EOF
    make_windows "$WORK/labels-ot.txt" "$WORK/windows-ot.txt"
    check_window "$OT_URL/services/poll" "$ot_auth" "$WORK/windows-ot.txt" OpenTAXII
    declare -A ot_rps ot_p99 ot_bad
    for c in $WRK_CONNS; do
        log "OpenTAXII: small-window polls, $c connections, ${OT_WRK_SECS}s"
        run_wrk "$OT_URL/services/poll" "$c" "$WORK/windows-ot.txt" bench "Bearer $OT_TOKEN" "$WORK/wrk-ot-$c.txt" "$OT_WRK_SECS"
        ot_rps[$c]=$WRK_RPS; ot_p99[$c]=$WRK_P99_MS; ot_bad[$c]=$WRK_BAD
    done
    stop_pid "$OT_PID" || true
    rm -rf "$otdir"

    # ---- nginx: the same bytes as one static file ----
    local ng_mbps="-" ng_curl_mbps="-"
    if [ "$WITH_NGINX" = 1 ]; then
        local ngport; ngport=$(free_port)
        start_nginx "$WORK/nginx" "$WORK/static" "$ngport"
        log "nginx: one static file of $(mb "$(stat -c %s "$WORK/static/full.xml")") MB over HTTPS"
        # The same Python client as the full poll (best of 2), and curl for reference.
        local best=0 ms size i json
        for i in 1 2; do
            json=$(python3 "$BENCH/py/full_poll.py" --port "$ngport" --get /full.xml --cafile "$CA_CRT" \
                --out "$WORK/nginx-get") || die "GET from nginx failed"
            read -r size ms < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["bytes"], max(d["ms"], 1))' "$json")
            [ $((size * 1000 / ms)) -gt "$best" ] && best=$((size * 1000 / ms))
        done
        rm -rf "$WORK/nginx-get"
        ng_mbps=$(mb "$best")
        best=0
        for i in 1 2; do
            t0=$(now_ns)
            size=$(curl -sS --cacert "$CA_CRT" -o /dev/null -w '%{size_download}' "https://127.0.0.1:$ngport/full.xml")
            ms=$(( $(ms_between "$t0" "$(now_ns)") + 1 ))
            [ $((size * 1000 / ms)) -gt "$best" ] && best=$((size * 1000 / ms))
        done
        ng_curl_mbps=$(mb "$best")
        stop_pid "$NGINX_PID" || true
    fi
    rm -rf "$WORK/static"

    # ---- figures ----
    local ot_fp_note="OpenTAXII's full poll not run (OT_FULL_POLL=0)"
    [ "$OT_FULL_POLL" = 1 ] && ot_fp_note="OpenTAXII $(mb "$ot_fp_bytes") MB in ${ot_fp_ms} ms ($ot_fp_parts parts)"
    local S="Server, $BLOCKS blocks (issues 2 and 7)"
    result "$S" "Full poll, MB/s (all $ours_fp_parts parts, HTTPS)" "$(mbps "$ours_fp_bytes" "$ours_fp_ms")" \
        "$(mbps "$ot_fp_bytes" "$ot_fp_ms")" OpenTAXII 1 \
        "first pass after a restart; ours $(mb "$ours_fp_bytes") MB in ${ours_fp_ms} ms (second pass $ours_fp2_mbps MB/s); $ot_fp_note"
    result "$S" "Full poll, blocks/s" "$(per_sec "$BLOCKS" "$ours_fp_ms")" "$(per_sec "$ot_fp_blocks" "$ot_fp_ms")" OpenTAXII 1 ""
    [ "$WITH_NGINX" = 1 ] && result "$S" "Full poll vs static file, MB/s" \
        "$(mbps "$ours_fp_bytes" "$ours_fp_best_ms")" "$ng_mbps" nginx 1 \
        "each the best of 2 passes with the same client: ours the two full polls above, nginx serving our concatenated parts as one file (curl to /dev/null: $ng_curl_mbps MB/s)"
    local ot_fp_rss_mb=-
    [ "$OT_FULL_POLL" = 1 ] && ot_fp_rss_mb=$((ot_fp_rss / 1024))
    result "$S" "Peak RSS, MB (start + full poll)" "$((ours_fp_hwm / 1024))" "$ot_fp_rss_mb" OpenTAXII 0 \
        "ours: VmHWM; OpenTAXII: largest sum of VmRSS, master + $OT_WORKERS workers, sampled every 0.1 s"
    for c in $WRK_CONNS; do
        result "$S" "Small-window polls/s, $c connections" "${ours_rps[$c]}" "${ot_rps[$c]}" OpenTAXII 1 \
            "$WINDOW blocks per poll, wrk for ${WRK_SECS}s (OpenTAXII ${OT_WRK_SECS}s); bad responses: ours ${ours_bad[$c]}, OpenTAXII ${ot_bad[$c]}"
        result "$S" "p99 latency, ms, $c connections" "${ours_p99[$c]}" "${ot_p99[$c]}" OpenTAXII 0 ""
    done
    result "$S" "Peak RSS, MB (whole serving run)" "$((ours_wrk_hwm / 1024))" - - 0 "start, full poll and every wrk run"
    result "$S" "Startup with the loaded store, ms" "$ours_startup" "$ot_startup" OpenTAXII 0 \
        "exec to first answered Discovery request, median of $STARTUP_RUNS starts (ours: $ours_starts ms; OpenTAXII: $ot_starts ms)"
    result "$S" "Store size / raw bytes" "$(python3 -c "print(f'{$ours_store / $RAW_BYTES:.2f}')")" \
        "$(python3 -c "print(f'{$ot_store / $RAW_BYTES:.2f}')")" OpenTAXII 0 \
        "raw $raw_mb MB; ours $(mb "$ours_store") MB (du of data dir), OpenTAXII $(mb "$ot_store") MB (data.db)"
    result "$S" "Store bytes per block" "$((ours_store / BLOCKS))" "$((ot_store / BLOCKS))" OpenTAXII 0 \
        "raw $((RAW_BYTES / BLOCKS)) bytes per block"
    result "$S" "Inbox ingest, blocks/s" "$ours_inbox_rate" "$ot_inbox_rate" OpenTAXII 1 \
        "batches of $BATCH; ours all $BLOCKS blocks ($( [ "$ours_load_hwm" -gt 0 ] && echo "peak RSS $((ours_load_hwm / 1024)) MB" || echo "loaded by an earlier run" )), OpenTAXII a $OT_INBOX_SAMPLE-block sample ($ot_load_note)"
}
