"""Every figure in the README's tables comes from a committed run record: a benchmark's results/bench/<script>.json
(benchmarks/record.py writes it) for a table whose paragraph names the script, results/metrics.json (what `make demo`
wrote) for the demo's table. A figure that no record holds — typed by hand, or left from an older run — fails.
A table of facts whose paragraph names the test that checks it against its source (`tests/hub/test_configs.py` for
the hub snapshots' table) is that test's to check."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
SCRIPT = re.compile(r"\b(bench_\w+)\.py")
CHECKED_BY = re.compile(r"`(tests/[\w/]+\.py)`")


def tables(text: str) -> list[tuple[int, str, list[str]]]:
    """(line number, the text of the lines before it back to the previous table or heading, the table's rows)."""
    lines, found, start, context = text.splitlines(), [], None, []
    for i, line in enumerate([*lines, ""]):
        if line.lstrip().startswith("|"):  # a table, also one indented under a list item
            start = i if start is None else start
            continue
        if start is not None:
            found.append((start + 1, "\n".join(context), [row.strip() for row in lines[start:i]]))
            start, context = None, []
        context = [] if line.startswith("#") else [*context, line]
    return found


def figures(row: str) -> list[str]:
    """The numbers of a table row after its first cell (the row's label), commas dropped; names in `code` left out."""
    cells = re.sub(r"`[^`]*`", "", row).strip().strip("|").split("|")[1:]
    return [n.replace(",", "") for cell in cells for n in NUMBER.findall(cell)]


def printed(row: str, output: list[str]) -> bool:
    """Some line the benchmark printed holds every figure of the row (as many times as the row has it)."""
    from collections import Counter

    want = Counter(figures(row))
    return any(not want - Counter(n.replace(",", "") for n in NUMBER.findall(line)) for line in output)


def numbers_in(value) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, str):
        return [float(n.replace(",", "")) for n in NUMBER.findall(value)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in numbers_in(v)] + [x for k in value for x in numbers_in(k)]
    if isinstance(value, list):
        return [x for v in value for x in numbers_in(v)]
    return []


def held_by(figure: str, values: list[float]) -> bool:
    """The figure is a value of the record as printed: the same digits, or a value (or a fraction as a percentage)
    rounded to the figure's decimals."""
    decimals = len(figure.split(".")[1]) if "." in figure else 0
    target = float(figure)
    return any(abs(round(v, decimals) - target) < 1e-9 or abs(round(100 * v, decimals) - target) < 1e-9
               for v in values)


def sources() -> list[tuple[int, Path, list[str]]]:
    """(README line, record, rows) for each table the README backs with a record."""
    out = []
    for line, context, rows in tables((ROOT / "README.md").read_text()):
        scripts = SCRIPT.findall(context)
        if scripts:
            out.append((line, ROOT / "results" / "bench" / f"{scripts[-1]}.json", rows))
        elif "make demo" in context and rows[0].startswith("| metric"):
            out.append((line, ROOT / "results" / "metrics.json", rows))
    return out


def test_the_parser_finds_the_tables_and_their_records():
    found = {path.name for _, path, _ in sources()}
    assert {"metrics.json", "bench_metrics.json", "bench_caption.json", "bench_motion.json", "bench_video.json",
            "bench_data.json"} <= found


@pytest.mark.parametrize("line, record, rows", sources(), ids=lambda v: str(v) if isinstance(v, int) else None)
def test_every_table_figure_is_in_its_run_record(line, record, rows):
    assert record.exists(), f"README line {line}: no {record.relative_to(ROOT)}; run the script named above it"
    data = json.loads(record.read_text())
    if record.name == "metrics.json":  # the demo's scores and fractions, rounded as the table shows them
        values = numbers_in(data)
        missing = [f for row in rows[2:] for f in figures(row) if not held_by(f, values)]
    else:  # a benchmark's table: each row as the script printed it
        assert {"command", "date", "machine", "versions"} <= set(data) and data["output"], record
        missing = [row for row in rows[2:] if not printed(row, data["output"])]
    assert not missing, f"README line {line}: {missing} not in {record.relative_to(ROOT)}"


def test_a_table_with_measured_figures_names_where_they_come_from():
    """A table with decimals, percentages or ratios (measured, not facts) must have a record behind it."""
    backed = {line for line, _, _ in sources()}
    for line, context, rows in tables((ROOT / "README.md").read_text()):
        if any((ROOT / test).is_file() for test in CHECKED_BY.findall(context)):
            continue
        measured = [r for r in rows[2:] if any("." in f for f in figures(r)) or re.search(r"\d%|\d[x×](?=[\s|)])", r)]
        assert line in backed or not measured, f"README line {line}: {measured[0]!r} names no script or record"


def test_a_hand_typed_figure_fails():
    output = ["| 360p, GOP 12, 20 s | 8 | 78 | 88 | 1.14x |", "| 720p | 32 | 794 | 1,179 | 1.49x |"]
    assert printed("| 360p GOP 12 | 8 | 78 | 88 | 1.14x |", output)
    assert printed("| 720p | 32 | 794 | 1179 | 1.49x |", output)
    assert not printed("| 360p | 8 | 79 | 88 | 1.14x |", output)  # one figure typed differently
    assert not printed("| 360p | 8 | 794 | 88 | 1.14x |", output)  # figures of two different rows
    values = numbers_in({"fine-tuned": {"BLEU-1": 0.8208333, "direction": 0.7708333}})
    assert all(held_by(f, values) for f in ["0.821", "77", "0.82"]) and not any(held_by(f, values) for f in
                                                                                   ["0.822", "78", "76"])
