# Mirror figure: a back-fill of PULSES generated OTX pulses from a local upstream (a
# taxii-mirror instance set up like OTX's TAXII service) into a second instance, against
# cabby's taxii-poll writing the same poll to disk. Sourced, not executed.

# make-fixtures output and inbox batches, once per (PULSES, PULSE_SEED).
prepare_pulses() {
    PULSES_DIR=$WORK/pulses
    local key="$PULSES $PULSE_SEED"
    if [ "$(cat "$PULSES_DIR/params" 2>/dev/null)" != "$key" ]; then
        log "generating $PULSES OTX-shaped pulses with make-fixtures"
        rm -rf "$PULSES_DIR"
        "$MAKE_FIXTURES" --out "$PULSES_DIR/set" --seed "$PULSE_SEED" --pulses "$PULSES" >/dev/null \
            || die "make-fixtures failed"
        python3 "$BENCH/py/inbox_batches.py" dir --dir "$PULSES_DIR/set/stix" --batch 500 \
            --collection user_AlienVault --out "$PULSES_DIR/inbox" --meta "$PULSES_DIR/meta.json" \
            || die "pulse batches failed"
        echo "$key" >"$PULSES_DIR/params"
    fi
    PULSE_BYTES=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["raw_bytes"])' "$PULSES_DIR/meta.json")
}

# A field of the mirror's run line, e.g. run_field LOG blocks.
run_field() { grep 'observables were fetched from the source' "$1" | tail -1 | grep -o " $2=[0-9]*" | cut -d= -f2; }

run_mirror_figures() {
    prepare_pulses
    local auth; auth=$(basic_auth "$BENCH_USER" "$BENCH_PASSWORD")

    # Upstream: loaded by inbox, served at the OTX-style /taxii/poll alias.
    local up_data=$WORK/upstream-data up_cfg=$WORK/upstream.toml
    rm -rf "$up_data"
    ours_config "$up_cfg" "$up_data" user_AlienVault
    start_ours "$up_cfg" "$WORK/upstream.log"
    local up_pid=$OURS_PID up_url=$OURS_URL
    log "upstream: inbox of $PULSES pulses ($(mb "$PULSE_BYTES") MB)"
    inbox_all "$up_url/services/inbox" "$auth" "$PULSES_DIR/inbox"
    # Restarted on its loaded store, as for the server figures: the load's background work
    # (sled's flushes, index merges) ends with it, so the mirror below and cabby at the end
    # poll an upstream in the same state.
    stop_ours "$up_pid"
    start_ours "$up_cfg" "$WORK/upstream.log"
    up_pid=$OURS_PID up_url=$OURS_URL
    local window_begin; window_begin=$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%SZ)

    # The mirror: one taxii11 source, one window covering the back-fill.
    local m_data=$WORK/mirror-data m_cfg=$WORK/mirror.toml
    rm -rf "$m_data"
    local source_table="
[[source]]
name = \"bench-upstream\"
kind = \"taxii11\"
collection = \"otx\"
poll_url = \"$up_url/taxii/poll\"
upstream_collection = \"user_AlienVault\"
username = \"$BENCH_USER\"
password_env = \"BENCH_UPSTREAM_PASSWORD\"
ca_file = \"$CA_CRT\"
backfill_days = 1.0
window_days = 1.0
interval_secs = 86400.0
"
    ours_config "$m_cfg" "$m_data" otx "$source_table"
    log "mirror: back-fill of $PULSES pulses"
    export BENCH_UPSTREAM_PASSWORD=$BENCH_PASSWORD
    start_ours "$m_cfg" "$WORK/mirror.log"
    local m_pid=$OURS_PID m_url=$OURS_URL
    wait_for_line "$WORK/mirror.log" 'observables were fetched from the source| ERROR ' "$MIRROR_TIMEOUT" \
        || die "the mirror did not finish its back-fill in ${MIRROR_TIMEOUT}s"
    grep -q 'observables were fetched from the source' "$WORK/mirror.log" \
        || die "the mirror failed: $(grep -iE 'error|warn' "$WORK/mirror.log" | tail -3)"
    local m_blocks m_ind m_ms m_dup m_none
    m_blocks=$(run_field "$WORK/mirror.log" blocks)
    m_ind=$(run_field "$WORK/mirror.log" indicators)
    m_ms=$(run_field "$WORK/mirror.log" ms)
    m_dup=$(run_field "$WORK/mirror.log" duplicates)
    m_none=$(run_field "$WORK/mirror.log" no_indicators)
    # Every pulse is read once: stored, or counted as a duplicate or as a package without
    # indicators (which the mirror does not store, by design).
    local m_pulses=$((m_blocks + m_dup + m_none))
    [ "$m_pulses" = "$PULSES" ] || die "the mirror's run line accounts for $m_pulses pulses, expected $PULSES"
    local m_hwm; m_hwm=$(vm_hwm_kb "$m_pid")
    RESPONSE_TYPE=COUNT_ONLY poll_request_xml otx >"$WORK/count.xml"
    taxii_post "$m_url/services/poll" "$auth" "$WORK/count.xml" "$WORK/count-reply.xml" >/dev/null
    local held; held=$(grep -o 'Record_Count[^>]*>[0-9]*' "$WORK/count-reply.xml" | grep -o '[0-9]*$')
    [ "$held" = "$m_blocks" ] || die "the mirror holds ${held:-?} blocks after the back-fill, its run line says $m_blocks"

    # The mirrored STIX 1.2 pulses polled whole by a client that asks only for STIX 1.1.1
    # (converted at poll time), against the same poll taking them as stored.
    log "mirror: full poll as stored, then as STIX 1.1.1"
    full_poll "$m_url" "${auth#Authorization: }" otx "$WORK/fp-12"
    local fp12_ms=$FP_MS fp12_bytes=$FP_BYTES
    FP_BINDING=urn:stix.mitre.org:xml:1.1.1 full_poll "$m_url" "${auth#Authorization: }" otx "$WORK/fp-111"
    local fp111_ms=$FP_MS fp111_bytes=$FP_BYTES fp111_blocks
    fp111_blocks=$(count_blocks_dir "$WORK/fp-111")
    [ "$fp111_blocks" = "$m_blocks" ] || die "the STIX 1.1.1 poll got $fp111_blocks blocks, expected $m_blocks"
    ! grep -q 'STIX_Package[^>]* version="1.2"' "$WORK"/fp-111/part-*.xml \
        || die "the STIX 1.1.1 poll carries STIX 1.2 packages"
    rm -rf "$WORK/fp-12" "$WORK/fp-111"
    stop_ours "$m_pid"

    # The same back-fill into a collection with the esa profile and an allowlist of 1,000
    # domains (none of which the pulses hold: every indicator is checked, none cut).
    local c_data=$WORK/curated-data c_cfg=$WORK/curated.toml allow
    allow=$(python3 -c 'print(", ".join(f"\"allow-{i}.example.net\"" for i in range(1000)))')
    rm -rf "$c_data"
    ours_config "$c_cfg" "$c_data" otx "profile = \"esa\"
$source_table
[allowlist]
domains = [$allow]
"
    log "mirror: curated back-fill of $PULSES pulses (esa profile, 1,000-domain allowlist)"
    start_ours "$c_cfg" "$WORK/curated.log"
    local c_pid=$OURS_PID
    wait_for_line "$WORK/curated.log" 'observables were fetched from the source| ERROR ' "$MIRROR_TIMEOUT" \
        || die "the curated mirror did not finish its back-fill in ${MIRROR_TIMEOUT}s"
    grep -q 'observables were fetched from the source' "$WORK/curated.log" \
        || die "the curated mirror failed: $(grep -iE 'error|warn' "$WORK/curated.log" | tail -3)"
    local c_ms c_ind c_blocks
    c_ms=$(run_field "$WORK/curated.log" ms)
    c_ind=$(run_field "$WORK/curated.log" indicators)
    c_blocks=$(run_field "$WORK/curated.log" blocks)
    stop_ours "$c_pid"

    # cabby: the same poll (same upstream, window of the last day), every block to disk.
    log "cabby: taxii-poll of the same window to --dest-dir"
    rm -rf "$WORK/cabby-out"; mkdir -p "$WORK/cabby-out"
    local host_port=${up_url#https://} t0 cabby_ms
    t0=$(now_ns)
    # requests lets REQUESTS_CA_BUNDLE (set system-wide on some machines) override
    # cabby's --ca-cert, so point it at our CA as well.
    REQUESTS_CA_BUNDLE=$CA_CRT timeout "$MIRROR_TIMEOUT" "$VENV/bin/taxii-poll" --host 127.0.0.1 --port "${host_port##*:}" --https \
        --ca-cert "$CA_CRT" --path /taxii/poll -c user_AlienVault \
        --username "$BENCH_USER" --password "$BENCH_PASSWORD" \
        --begin "$window_begin" --end "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        --dest-dir "$WORK/cabby-out" >"$WORK/cabby.out" 2>"$WORK/cabby.err" \
        || die "taxii-poll failed: $(tail -3 "$WORK/cabby.err")"
    cabby_ms=$(ms_between "$t0" "$(now_ns)")
    local cabby_files; cabby_files=$(find "$WORK/cabby-out" -type f | wc -l)
    [ "$cabby_files" = "$PULSES" ] || die "cabby wrote $cabby_files files, expected $PULSES: $(tail -3 "$WORK/cabby.err")"
    rm -rf "$WORK/cabby-out"
    stop_ours "$up_pid"

    local S="Mirror back-fill, $PULSES pulses (issue 3)"
    result "$S" "Pulses/s" "$(per_sec "$m_pulses" "$m_ms")" "$(per_sec "$cabby_files" "$cabby_ms")" "cabby taxii-poll" 1 \
        "ours: the mirror's run line, $m_ms ms for $m_blocks stored + $m_none without indicators (not stored) + $m_dup duplicates; cabby: wall time of taxii-poll, $cabby_ms ms for $cabby_files files"
    result "$S" "Indicators/s" "$(per_sec "$m_ind" "$m_ms")" "$(per_sec "$m_ind" "$cabby_ms")" "cabby taxii-poll" 1 \
        "$m_ind indicators (the mirror's count; cabby carries the same blocks)"
    result "$S" "Mirror peak RSS, MB" "$((m_hwm / 1024))" - - 0 "VmHWM of the mirroring instance ($(mb "$PULSE_BYTES") MB of pulses)"

    local C="Curation and STIX 1.1.1 serving, the same $PULSES pulses (issue 5)"
    result "$C" "Back-fill pulses/s, esa profile + 1,000-domain allowlist" "$(per_sec "$PULSES" "$c_ms")" \
        "$(per_sec "$m_pulses" "$m_ms")" "the plain back-fill above" 1 \
        "$c_ms ms against $m_ms ms; kept $c_blocks blocks and $c_ind indicators of $m_blocks and $m_ind"
    result "$C" "Full poll MB/s, served as STIX 1.1.1" "$(python3 -c "print(round($fp111_bytes / 1e3 / max($fp111_ms, 1), 1))")" \
        "$(python3 -c "print(round($fp12_bytes / 1e3 / max($fp12_ms, 1), 1))")" "the same poll as stored (1.2)" 1 \
        "$m_blocks blocks converted at poll time: $fp111_ms ms against $fp12_ms ms"
}
