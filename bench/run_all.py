"""Run every benchmark (each in its own process) and print a summary table.

    .venv/bin/python bench/run_all.py                 # full sizes (several minutes)
    .venv/bin/python bench/run_all.py --quick         # smoke run, seconds
    .venv/bin/python bench/run_all.py --only fold,vm --out results.jsonl
    .venv/bin/python bench/run_all.py --from results.jsonl --markdown   # re-render, no run

Each benchmark's own output is streamed through; its JSON result line is
collected (and appended to ``--out`` when given).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHES = ["append", "fold", "size", "growth", "world_files", "vm", "state_at", "image", "fork", "diff", "readmodel", "replay", "verify", "effects",
           "follow", "cli_start", "checkpoint_write", "log", "agent_history", "large_session"]
PG_BENCHES = ["pg_append", "pg_writers", "pg_follow", "fencing"]  # need a PostgreSQL server: run with --only


def run(name: str, extra: list[str]) -> dict[str, Any] | None:
    cmd = [sys.executable, str(HERE / f"bench_{name}.py"), *extra]
    print(f"$ {' '.join(cmd)}", flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=HERE.parent)
    result = None
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        if line.startswith('{"bench"'):
            result = json.loads(line)
    if proc.wait() != 0:
        print(f"!! bench_{name}.py exited with {proc.returncode}", flush=True)
        return None
    return result


def summary(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(benchmark, tapevm figure, baseline figure, ratio, target/verdict) rows."""
    b = r["bench"]

    def v(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    if b == "append":
        return [
            ("append vs raw sqlite", f"{r['tapevm_eps']:,.0f} ev/s", f"{r['raw_eps']:,.0f} rows/s",
             f"{r['ratio_vs_raw']:.2f}x", f">= 0.5x  {v(r['pass_raw'])}"),
            (f"append vs library ({r.get('payload', 'int')})", f"{r['tapevm_eps']:,.0f} ev/s",
             f"{r['es_eps']:,.0f} ev/s", f"{r['ratio_vs_es']:.2f}x",
             f">= {r.get('target_ratio_es', 3):g}x    {v(r['pass_es'])}"),
        ]
    if b == "fold":
        rows = []
        if "fast_eps" in r:  # how sessions rebuild state (open, state_at, checkpoints): the target's subject
            rows += [
                ("fold rate, state rebuild (fold_fields)", f"{r['fast_eps']:,.0f} ev/s", "", "",
                 f">= 200,000 ev/s  {v(r['pass_fast_eps'])}"),
                ("state rebuild vs library replay", f"{r['fast_eps']:,.0f} ev/s", f"{r['es_eps']:,.0f} ev/s",
                 f"{r['fast_ratio_vs_es']:.2f}x", f">= 5x    {v(r['pass_fast_ratio'])}"),
            ]
        return rows + [  # through validated event models (tape log's path), reported beside it
            ("fold rate, validated models (fold(read))", f"{r['tapevm_eps']:,.0f} ev/s", "", "",
             f">= 200,000 ev/s  {v(r['pass_eps'])}"),
            ("validated models vs library replay", f"{r['tapevm_eps']:,.0f} ev/s", f"{r['es_eps']:,.0f} ev/s",
             f"{r['ratio_vs_es']:.2f}x", f">= 5x    {v(r['pass_ratio'])}"),
        ]
    if b == "size":
        return [
            ("size per Defined event", f"{r['tapevm_defined_row']:.1f} B", f"{r['es_defined_row']:.1f} B",
             f"{r['ratio_event']:.2f}x", f"<= 0.5x  {v(r['pass_event'])}"),
            ("size, whole log per define", f"{r['tapevm_log_row_per_define']:.1f} B",
             f"{r['es_log_row_per_define']:.1f} B", f"{r['ratio_log']:.2f}x", f"<= 0.5x  {v(r['pass_log'])}"),
        ]
    if b == "growth":
        return [
            (f"growth ({r['steps']:,} conses)", f"{r['stored_state_bytes']:,} B stored",
             f"{r['final_list_node_bytes']:,} B list", f"{r['stored_state_bytes'] / r['final_list_node_bytes']:.1f}x",
             f"3x + {r['constant_per_event']:.0f} B/event  {v(r['pass'])}"),
        ]
    if b == "world_files":
        p, w = r["pieces"], r["whole"]
        return [
            (f"world file ({r['steps']:,} {r.get('workload', 'append')}s)", f"{p['stored']:,} B stored, {p['held_blob_bytes']:,} B held",
             f"{w['stored']:,} B, {w['held_blob_bytes']:,} B whole", f"{p['stored'] / p['final_file']:.1f}x file",
             (f"3x + {r['constant_per_record']:.0f} B/record" if r.get("workload", "append") == "append"
              else f"{r['constant_per_record']:.0f} B/edit form") + f"  {v(r['pass'])}"),
        ]
    if b == "vm":
        return [
            (f"vm (fib {r['n']})", f"{r['tapevm_s']:.3f} s", f"{r['baseline_s']:.3f} s",
             f"{r['ratio_time']:.2f}x time",
             f"<= 0.5x lis.py {'PASS' if r['pass'] else 'FAIL'}" if "pass" in r else "no threshold (reported)"),
        ]
    if b == "fork":
        return [
            (f"fork of {r['events']:,} events", f"{r['fork_s'] * 1000:.1f} ms, {r['fork_record_bytes']} B",
             f"{r['copy_s']:.2f} s copy", f"{r['ratio_time']:,.0f}x",
             f"< 50 ms, < 10 KB  {v(r['pass_time'] and r['pass_bytes'])}"),
        ]
    if b == "diff":
        return [
            (f"diff of 2 x {r['bindings']:,} bindings", f"{r['compare_s']:.3f} s", f"{r['naive_s']:.3f} s naive",
             f"{r['ratio_vs_naive']:.1f}x (pure diff)", f"< 1 s  {v(r['pass'])}"),
        ]
    if b == "readmodel":
        return [
            (f"read model catch-up ({r['events']:,})", f"{r['catch_up_eps']:,.0f} ev/s",
             f"{r['read_decode_eps']:,.0f} ev/s read+decode", f"{r['ratio_vs_read']:.2f}x",
             f">= 100,000 ev/s  {v(r['pass'])}"),
        ]
    if b == "replay":
        return [
            ("replay --verify vs original run", f"{r['replay_eps']:,.0f} ev/s", f"{r['record_eps']:,.0f} ev/s",
             f"{r['ratio']:.2f}x", f">= 0.8x  {v(r['pass'])}"),
        ]
    if b == "verify":
        return [
            ("verify (checksums + chain)", f"{r['verify_eps']:,.0f} ev/s", f"{r['read_eps']:,.0f} ev/s read",
             f"{r['verify_eps'] / r['read_eps']:.2f}x", f">= 500,000 ev/s  {v(r['pass'])}"),
        ]
    if b == "effects":
        return [
            (f"effects ({r['calls']:,} asks)", f"{r['stored_bytes']:,} B stored", f"{r['raw_bytes']:,} B raw",
             f"{r['ratio']:.1%}", f"<= 30%  {v(r['pass'])}"),
        ]
    if b == "state_at":
        return [
            (f"state_at, {r['events']:,} events, hot {r['hot']}", f"{r['median_ms']:.1f} ms median",
             f"{r['fold_median_ms']:,.0f} ms fold", f"{r['ratio']:.0f}x",
             f"<= 20 ms {v(r['pass_median'])}, >= 100x {v(r['pass_ratio'])}"),
            (f"checkpoint storage ({r['checkpoints']} cps)", f"{r['checkpoint_bytes']:,} B",
             f"{r['image_bytes']:,} B image", f"{r['storage_ratio']:.1f}x", f"<= 3x  {v(r['pass_storage'])}"),
        ]
    if b == "image":
        return [
            (f"image save/load, {r['bindings']:,} bindings ({r.get('values', '')})",
             f"{r['save_s']:.3f} s / {r['load_s']:.3f} s", f"{r['rebuild_s']:.3f} s rebuild",
             f"{r['speedup']:.1f}x",
             f"<=1 s {v(r['pass_save'])}, <=0.5 s {v(r['pass_load'])}, >=10x {v(r['pass_speedup'])}"),
            ("image size vs JSON export", f"{r['image_bytes']:,} B", f"{r['json_bytes']:,} B",
             f"{r['size_ratio']:.2f}x", f"<= 0.2x  {v(r['pass_size'])}"),
        ]
    if b == "checkpoint_write":
        return [
            (f"forms on {r['bindings']:,} bindings, inline checkpoints vs none",
             f"{r['ms_per_form_inline']:.3f} ms/form", f"{r['ms_per_form_without']:.3f} ms/form",
             f"{r['ratio']:.2f}x", "reported"),
        ]
    if b == "log":
        n = r["sizes"][-1]
        x = r[f"n{n}"]
        return [
            (f"tape log --json of {n:,} consing turns vs Store.log", f"{x['log_s']:.2f} s",
             f"{x['read_s']:.2f} s", f"{x['ratio_net']:.2f}x (without start)",
             f"<= 3x, bytes/event x{r['bytes_per_event_growth']:.2f}  {v(x['ratio_net'] <= 3)}"),
        ]
    if b == "agent_history":
        x = r["results"][-1]
        return [
            (f"agent history, {x['turns']:,} turns: bytes/turn", f"{x['bytes_per_turn']:,.0f} B",
             f"{x['baseline_bytes_per_turn']:,.0f} B", f"{x['bytes_per_turn'] / x['baseline_bytes_per_turn']:.2f}x",
             f"<= 1.5x  {v(x['bytes_per_turn'] <= 1.5 * x['baseline_bytes_per_turn'])}"),
            (f"agent history, {x['turns']:,} turns: ms/turn (last)", f"{x['ms_last']:.2f} ms",
             f"{x['baseline_ms']:.2f} ms", f"{x['ms_last'] / x['baseline_ms']:.2f}x", f"<= 3x  {v(x['ms_last'] <= 3 * x['baseline_ms'])}"),
            (f"agent history, {x['turns']:,} turns: open; state_at median", f"{x['open_ms']:.0f} ms",
             f"{x['state_at_median_ms']:.1f} ms", "", f"<= 50 ms; <= 10 ms  {v(x['open_ms'] <= 50 and x['state_at_median_ms'] <= 10)}"),
        ]
    if b == "large_session":
        f, i = r["forms"], r["from_image"]
        return [(f"large session ({r['bindings']:,} bindings): open + one lookup, forms / image",
                 f"{f['ms']:.0f} / {i['ms']:.0f} ms", f"{f['rss_mb']:.0f} / {i['rss_mb']:.0f} MB", "",
                 f"<= 100 ms, <= 60 MB  {v(max(f['ms'], i['ms']) <= 100 and max(f['rss_mb'], i['rss_mb']) <= 60)}")]
    if b == "fencing":
        return [(f"lease fence, {name} (paired rounds)", f"{r[name]['fenced_us']:,.0f} µs/commit",
                 f"{r[name]['unfenced_us']:,.0f} µs/commit", f"{r[name]['paired_cost_pct']:+.1f}%",
                 "within noise (reported)") for name in ("sqlite", "postgres") if name in r]
    if b == "pg_append":
        return [
            ("PostgreSQL append vs library", f"{r['tapevm_events_per_s']:,.0f} ev/s",
             f"{r['library_events_per_s']:,.0f} ev/s", f"{r['ratio_vs_library']:.2f}x", f">= 3x    {v(r['pass'])}"),
        ]
    if b == "pg_writers":
        # the first mode is the shipped write path (lines before the lock-free path: "table_lock")
        t = next(iter(r["modes"].values())) if "modes" in r else r["table_lock"]
        return [
            (f"PostgreSQL {r['writers']} writers vs 1", f"{t['many']['events_per_s']:,.0f} ev/s",
             f"{t['one']['events_per_s']:,.0f} ev/s", f"{r['ratio']:.2f}x", f">= 2x    {v(r['pass'])}"),
        ]
    if b in ("follow", "pg_follow"):
        return [
            (f"follow {x['backend']} {x['projection']} at {x['writer_eps']:,.0f} ev/s",
             f"lag max {x['lag_max_s']:.3f} s, p99 {x['lag_p99_s']:.3f} s",
             f"{x['catch_up_eps']:,.0f} ev/s catch-up", f"{x['headroom']:.1f}x headroom",
             f"< 1 s at {x['target_rate']:,.0f} ev/s  {v(x['pass'])}")
            for x in r["runs"]
        ]
    return [(b, "", "", "", "")]


HEAD = ("benchmark", "tapevm", "baseline", "ratio", "target")


def print_table(results: list[dict[str, Any]], markdown: bool) -> None:
    rows = [row for r in results for row in summary(r)]
    if markdown:
        print("| " + " | ".join(HEAD) + " |")
        print("|" + "|".join("---" for _ in HEAD) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(x[i]) for x in [HEAD, *rows]) for i in range(len(HEAD))]
    for row in [HEAD, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    p.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(BENCHES + PG_BENCHES))
    p.add_argument("--repeat", type=int, default=None, help="pass --repeat N to every benchmark")
    p.add_argument("--out", default=None, help="append the JSON result lines to this file")
    p.add_argument("--from", dest="from_file", default=None, help="only render the summary of saved JSON lines")
    p.add_argument("--markdown", action="store_true", help="print the summary as a markdown table")
    args = p.parse_args()

    if args.from_file:
        results = [json.loads(x) for x in Path(args.from_file).read_text().splitlines() if x.startswith('{"bench"')]
        print_table(results, args.markdown)
        return

    names = [n.strip() for n in args.only.split(",") if n.strip()] or BENCHES
    unknown = set(names) - set(BENCHES) - set(PG_BENCHES)
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    extra = (["--quick"] if args.quick else []) + (["--repeat", str(args.repeat)] if args.repeat else [])
    results, failed = [], []
    for name in names:
        r = run(name, extra)
        if r is None:
            failed.append(name)
            continue
        results.append(r)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(r) + "\n")
    print()
    print("== summary ==")
    print_table(results, args.markdown)
    if failed:
        print(f"failed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
