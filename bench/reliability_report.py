"""Run the reliability tests and write RELIABILITY.md: what each tried, how many times, and the result.

    .venv/bin/python bench/reliability_report.py            # the thorough run (~15 min here), writes RELIABILITY.md
    .venv/bin/python bench/reliability_report.py --from report.xml   # re-render a saved run

It runs pytest on the reliability tests (tests/reliability, the eventsourcing
library's recorder test cases, the store-opening and contract tests) in the
thorough configuration (``HYPOTHESIS_PROFILE=ci``, slow tests included, both
backends; PostgreSQL must be reachable, as under CI), reads pytest's JUnit
XML report (outcome, time, and the ``trials``/``detail`` properties tests
record with ``record_property``), and renders one table row per test.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = [
    "tests/reliability",
    "tests/infrastructure/test_library_recorder_cases.py",
    "tests/infrastructure/test_store_opening.py",
    "tests/infrastructure/test_conflict_retry.py",
    "tests/infrastructure/test_event_store.py",
    # trust: one writer, a keyed chain that cannot be downgraded, verify of forks
    "tests/sessions/test_leases.py::test_a_writer_paused_past_the_lease_timeout_writes_nothing_and_the_new_holder_goes_on",
    "tests/sessions/test_leases.py::test_an_append_under_a_lease_taken_over_is_refused_whole",
    "tests/integrity/test_hash_chain.py::test_a_keyed_session_whose_links_were_stripped_is_tampering_not_history",
    "tests/integrity/test_hash_chain.py::test_the_keyed_marker_cannot_be_removed_or_edited_to_hide_stripped_links",
    "tests/integrity/test_hash_chain.py::test_records_from_before_the_chain_stay_accepted_once_the_store_is_keyed",
    "tests/integrity/test_hash_chain.py::test_a_writer_without_the_stores_key_is_refused_before_it_writes",
    "tests/integrity/test_hash_chain.py::test_a_keyless_writer_is_refused_by_a_keyed_session_even_without_the_marker",
    "tests/integrity/test_hash_chain.py::test_verify_of_a_fork_covers_the_records_it_reads_from_its_source",
    "tests/integrity/test_hash_chain.py::test_verify_of_a_fork_reports_its_sources_records_deleted_up_to_the_fork_point",
]

# test function (without parameters) -> (area, what it tried, how many times when the test does not record it)
WHAT: dict[str, tuple[str, str, str]] = {
    "test_load_small": ("load", "8 processes x 25 forms on own sessions + 4 x 15 contending for one", "260 forms"),
    "test_load_8_writers_x_2000_forms_plus_4_contending": (
        "load", ("8 processes x 2,000 forms on own sessions + 4 processes x 250 forms contending for one session "
                "(conflicts retried with run_retrying); then: no event lost or duplicated, numbers gapless"), ""),
    "test_kill_9_small": ("crash", "kill -9 a running `tape run` at a random moment, check, continue", "2 trials"),
    "test_kill_9_during_tape_run_50_trials": (
        "crash", ("kill -9 a running `tape run` (60 forms) at a random moment in the last 45% of a clean run's time (seed 6); store opens, log gapless, "
                 "no partial form, committed forms are a prefix, running the rest gives the uninterrupted result"), ""),
    "test_tape_run_continue_after_kill_9": ("crash", "`tape run -u` continues after kill -9", "5 trials"),
    "test_sqlite_store_on_a_full_disk": (
        "disk full", ("SQLite store on a 1 MB tmpfs, forms until ENOSPC; one-line StoreError, store whole, "
                     "CLI exits 1 with one line, continues once space is freed"), "1 file system filled"),
    "test_postgres_insert_failing_with_disk_full": (
        "disk full", ("PostgreSQL INSERT failing with SQLSTATE 53100 disk_full (server-side trigger); one-line "
                     "StoreError, nothing stored, continues afterwards"), "1 (after the library's 10 retries)"),
    "test_runaway_form_is_stopped": (
        "runaway", ("a runaway form through `tape eval` under a 1.5 GB address-space limit, stopped by this limit: "
                    "one `limit-exceeded` line naming it, exit 1, what was committed before kept, "
                    "`tape replay --verify` identical, log whole"), "1 runaway"),
    "test_reader_on_arbitrary_text": ("fuzz", "reader on arbitrary Unicode text", "{fuzz} inputs"),
    "test_reader_on_lisp_shaped_soup": ("fuzz", "reader on Lisp-shaped token soup", "{fuzz} inputs"),
    "test_reader_on_deep_nesting": ("fuzz", "reader on 10,000 and 200,000 nested brackets/quotes", "6 inputs"),
    "test_decode_arbitrary_rows": ("fuzz", "record decoder on arbitrary topic and state bytes", "{fuzz} inputs"),
    "test_decode_checksummed_garbage": (
        "fuzz", "record decoder on valid checksums around arbitrary JSON/zstd bodies", "{fuzz} inputs"),
    "test_decode_damaged_real_records": (
        "fuzz", "record decoder on real records with a byte changed, truncated, or re-checksummed", "{fuzz} x 3 inputs"),
    "test_open_store_on_garbage_files": ("fuzz", "store opener on random files (with/without a SQLite header)",
                                         "{slow} files"),
    "test_open_store_on_damaged_real_files": ("fuzz", ("store opener + read on real store files with 1-64 bytes "
                                                      "overwritten"), "{slow} files"),
    "test_malformed_input_never_changes_stored_events": (
        "fuzz", "malformed and Lisp-shaped inputs run against a session: stored rows stay byte-identical",
        "{slow} inputs"),
    "test_log_is_whole_after_the_fuzzing": ("fuzz", "after the eval fuzzing: log gapless, fold = live state", "1"),
    "test_tape_eval_of_malformed_input_is_one_line": ("fuzz", "`tape eval` of malformed input: one line, log kept",
                                                      "1 per input"),
    "test_image_loader_on_arbitrary_bytes": ("fuzz", "image loader on arbitrary bytes", "{fuzz} inputs"),
    "test_image_import_of_mutated_exports": (
        "fuzz", ("`image import` of a real export with one part (a named one, or one a random walk reaches) replaced "
                "by random JSON or removed: imports, or one line (`state.files` as `[]`/`true` always tried)"),
        "{slow} inputs"),
    "test_fold_of_malformed_fields_is_a_clear_error": (
        "fuzz", ("the fold on events that decode but whose fields have the wrong shape (random JSON per field, "
                "random file-content entries): a one-line CorruptRecord naming the event"), "{slow} inputs"),
    "test_blame_of_malformed_fields_is_a_clear_error": (
        "fuzz", ("blame on the same kind of fields, read without event models, of every event type it reads and "
                "a malformed form: only errors its scan turns into a one-line CorruptRecord"), "{slow} inputs"),
    "test_escapes_through_a_session_stay_in_the_vm": (
        "security", ("20 escapes (dunders, eval/read-string, host paths in file primitives) through a session; "
                    "host files unchanged, no host content in the log"), "20 escapes"),
    "test_the_environment_is_unreachable": ("security", "a secret in the environment never reaches output or store",
                                            "6 attempts"),
    "test_huge_allocations_are_errors_not_crashes": ("security", ("huge allocation under a 1.5 GB limit: an error, "
                                                                 "store whole"), "1 per program"),
    "test_no_module_can_unpickle_stored_data": ("security", "no module imports pickle/marshal/shelve/dill", "all modules"),
    "test_password_never_shown_when_the_server_is_unreachable": (
        "security", "store URL password with an unreachable server, with and without --debug", "6 commands"),
    "test_provider_secrets_never_reach_the_log_or_the_terminal": (
        "security", ("a provider that echoes the key in its 401, a model repeating a TAPE_SECRETS secret, a base URL "
                    "with user:password@: key, secret and password in no error line, `tape log` (text, --json), "
                    "store byte (zstd records opened), image or export; each shown as [secret NAME]"),
        "10 commands"),
    "test_password_never_shown_in_output_or_logs": ("security", ("store URL password on a live server: output, "
                                                                "--debug logs, tape info"), "7 commands"),
    "test_another_sessions_checkpoints_copied_over_are_never_served": (
        "checkpoints", ("misplaced: session B's checkpoint rows copied over A's in SQL (same event numbers and "
                       "types); `tape eval -i A x` prints A's value, commits A's result, the copies are dropped"),
        "1 session, every row"),
    "test_forged_checkpoints_are_never_served": (
        "checkpoints", ("forged: B's payloads and checksums put under A's rows, then B's rows with A's seals "
                       "written in; A's value served both times (a forger who recomputes the xxh3 checksums is "
                       "not stopped: a checksum, not a signature)"), "2 forgeries"),
    "test_a_record_deleted_behind_a_checkpoint_stops_every_reader": (
        "checkpoints", ("hole behind a checkpoint: a middle record of `stored_events` deleted before a checkpoint; "
                       "`eval`, `state`, `info`, `state --at` fail in one line naming the missing events, nothing "
                       "committed, what lies before stays readable"), "4 commands"),
    "test_checkpoints_verify_drops_what_it_says_it_drops": (
        "checkpoints", "`tape checkpoints verify` with a checkpoint's events hash altered: reported and dropped",
        "1"),
    "test_a_fork_reads_through_its_sources_sealed_checkpoints": (
        "checkpoints", "a fork's first open served from its source's sealed checkpoints", "1"),
    "test_many_processes_opening_a_new_store_at_once": ("PostgreSQL/store", "8 processes creating one new store at once",
                                                        "8 processes"),
    "test_schemas_keep_stores_apart": ("PostgreSQL/store", "two stores in one database via ?schema=", "1"),
    "test_a_misspelt_url_option_is_refused": ("PostgreSQL/store", "a misspelt store URL option is refused", "1"),
    "test_a_writer_paused_past_the_lease_timeout_writes_nothing_and_the_new_holder_goes_on": (
        "lease fencing", ("SIGSTOP a writer past TAPE_LEASE_TIMEOUT, take its lease over, SIGCONT it: its next form "
                          "is refused (LeaseLost naming the new holder) and writes nothing; the new holder's commits"),
        "1 paused writer"),
    "test_an_append_under_a_lease_taken_over_is_refused_whole": (
        "lease fencing", ("an append (one record; several in one transaction) after the lease row was taken over "
                          "or deleted: refused inside the insert, nothing stored; unleased appends unaffected"),
        "2 takeovers"),
    "test_a_keyed_session_whose_links_were_stripped_is_tampering_not_history": (
        "chain downgrade", ("TAPE_CHAIN_KEY set; every link stripped, a value edited, checksums recomputed: keyed "
                            "verify reports tampering at event 1 (CLI exit 1), still after a keyed writer goes on; "
                            "keyless verify asks for the key"), "16 records stripped"),
    "test_the_keyed_marker_cannot_be_removed_or_edited_to_hide_stripped_links": (
        "chain downgrade", "links stripped and the store's keyed marker deleted, or its census edited: tampering",
        "1"),
    "test_records_from_before_the_chain_stay_accepted_once_the_store_is_keyed": (
        "chain downgrade", ("records from before the chain stay accepted after the store is keyed (marker kept: "
                            "its census; marker absent: old records followed by a keyed one); stripping the keyed "
                            "record afterwards is tampering"), "1"),
    "test_a_writer_without_the_stores_key_is_refused_before_it_writes": (
        "keyless writers", ("`tape eval` without TAPE_CHAIN_KEY, or with a wrong one, into a keyed session and into "
                            "a new session of a keyed store: one-line refusal, nothing written, verify intact"),
        "2 writes"),
    "test_a_keyless_writer_is_refused_by_a_keyed_session_even_without_the_marker": (
        "keyless writers", ("a keyless writer after the store's marker row was deleted: refused by the session's "
                            "keyed last record"), "1"),
    "test_verify_of_a_fork_covers_the_records_it_reads_from_its_source": (
        "fork verify", ("verify of a fork at 8 checks its source's records 1-8 and says so; record 2 of the source "
                        "altered and re-checksummed: NOT intact, naming the source (CLI exit 1)"), "1 alteration"),
    "test_verify_of_a_fork_reports_its_sources_records_deleted_up_to_the_fork_point": (
        "fork verify", ("the source's records from 5 deleted (its own verify cannot tell a cut tail): the fork's "
                        "verify reports events 5-8 missing in the source"), "1 deletion"),
}


def fuzz_sizes() -> dict[str, str]:
    sys.path.insert(0, str(ROOT / "tests" / "reliability"))
    os.environ["HYPOTHESIS_PROFILE"] = "ci"
    import _fuzz  # type: ignore[import-not-found]

    return {"fuzz": f"{_fuzz.FUZZ_EXAMPLES:,}", "slow": f"{_fuzz.EXAMPLES_FOR_SLOW_TARGETS:,}"}


def run_tests(xml: Path) -> int:
    env = os.environ | {"HYPOTHESIS_PROFILE": "ci", "CI": "true"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
           "-o", "junit_family=xunit1", *TESTS]
    print("running:", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


def render(xml: Path) -> str:
    sizes = fuzz_sizes()
    tree = ET.parse(xml)
    suite = tree.getroot()
    if suite.tag == "testsuites":
        suite = suite[0]
    rows = []
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    library: dict[str, list[str]] = {}
    for case in suite.iter("testcase"):
        name = case.get("name", "")
        base = re.sub(r"\[.*\]$", "", name)
        param = name[len(base) + 1:-1] if name != base else ""
        outcome = "passed"
        reason = ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, reason = "failed", (child.get("message") or "").splitlines()[0][:120]
            elif child.tag == "skipped":
                outcome, reason = "skipped", (child.get("message") or "")[:120]
        counts[outcome] += 1
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        seconds = float(case.get("time", "0"))
        if "library_recorder_cases" in case.get("classname", ""):
            cls = case.get("classname", "").rsplit(".", 1)[-1]
            library.setdefault(cls, []).append("✔" if outcome == "passed" else f"{outcome}: {base}")
            continue
        area, what, times = WHAT.get(base, ("store contract", base.replace("test_", "").replace("_", " "), "1"))
        times = props.get("trials") or times.format(**sizes)
        if props.get("detail"):
            what = f"{what} — {props['detail']}"
        result = {"passed": "PASS", "failed": f"FAIL: {reason}", "skipped": f"skipped: {reason}"}[outcome]
        rows.append(f"| {area} | `{base}` | {param or '-'} | {what} | {times} | {result} | {seconds:.1f} |")
    for cls, results in sorted(library.items()):
        backend = "PostgreSQL" if "Postgres" in cls else "SQLite"
        ok = all(r == "✔" for r in results)
        rows.append(f"| library | `{cls}` | {backend.lower()} | the eventsourcing library's own "
                    f"{re.sub('Test(SQLite|Postgres)', '', cls)}TestCase, unmodified | {len(results)} tests | "
                    f"{'PASS' if ok else 'FAIL: ' + '; '.join(r for r in results if r != '✔')} | - |")
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        "# Reliability",
        "",
        "Every reliability claim of tapevm is a test that tries to break it. This table is generated by",
        "`python bench/reliability_report.py` (which runs them in the thorough configuration: the `ci`",
        "hypothesis profile, slow tests included, SQLite and PostgreSQL) — do not edit it by hand.",
        "",
        (f"Run: {when}, {os.cpu_count()} cores; {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped."),
        "",
        "| area | test | backend | what it tried | how many times | result | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    return "\n".join(head + rows) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--from", dest="source", type=Path, help="render a saved JUnit XML report instead of running")
    p.add_argument("--out", type=Path, default=ROOT / "RELIABILITY.md")
    args = p.parse_args()
    if args.source:
        xml, code = args.source, 0
    else:
        xml = Path(tempfile.mkdtemp(prefix="tape-reliability-")) / "report.xml"
        code = run_tests(xml)
    args.out.write_text(render(xml))
    print(f"wrote {args.out}")
    sys.exit(code)


if __name__ == "__main__":
    main()
