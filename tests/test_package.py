"""The package's shape: the README's Layout section names every module and nothing that is gone, modules stay small,
no import cycles between vidlm's modules, and `import vidlm` stays cheap."""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vidlm"


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def layout_rows() -> dict[str, str]:
    """{first cell's path: the row's text} of the README's Layout table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) > 2:
            for path in re.findall(r"`([^`]+)`", cells[1]):
                rows[path] = cells[2]
    return rows


def test_the_readme_layout_names_every_module_and_only_what_exists():
    rows = layout_rows()
    for path in rows:
        assert (ROOT / path).exists(), f"README Layout names {path}, which is not in the tree"
    for module in modules():
        parts = module.relative_to(PACKAGE).parts
        if parts == ("__init__.py",):
            continue
        if len(parts) == 1:
            assert f"vidlm/{parts[0]}" in rows, f"vidlm/{parts[0]} is in no row of the README's Layout section"
            continue
        folder = f"vidlm/{parts[0]}/"
        assert folder in rows, f"{folder} is in no row of the README's Layout section"
        inside = parts[1] + ("/" if len(parts) > 2 else "")
        files_named = re.findall(r"`([\w/]+(?:\.py|/))`", rows[folder])
        if files_named and inside != "__init__.py":  # a row that lists its files lists all of them
            assert inside in files_named, f"the README's row for {folder} does not name {inside}"


def test_every_package_folder_is_a_regular_package_and_git_keeps_every_source_file():
    """A folder without `__init__.py` still imports (as a namespace package) but re-exports nothing: `from vidlm.data
    import read_captions_csv` failed on a fresh clone because .gitignore's `data/` also matched `vidlm/data/`."""
    for folder in sorted({m.parent for m in modules()}):
        assert (folder / "__init__.py").exists(), f"{folder.relative_to(ROOT)} has no __init__.py"
    sources = [str(p.relative_to(ROOT)) for top in ("vidlm", "tests", "benchmarks", "notebooks")
               for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts
               and ".ipynb_checkpoints" not in p.parts]
    if not (ROOT / ".git").exists():
        return  # an installed copy: nothing for git to ignore
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *sources], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()
    assert ignored == [], f".gitignore leaves these out of every commit: {ignored}"


def test_modules_stay_small():
    long = {m.relative_to(ROOT).as_posix(): n for m in modules() if (n := len(m.read_text().splitlines())) > 450}
    assert not long, f"modules over 450 lines: {long}"


def _imports_at_import_time(module: Path) -> set[str]:
    """vidlm modules that `module` imports when it is imported (top level, not inside functions)."""
    tree = ast.parse(module.read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vidlm"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("vidlm"))
    return found


def _name(module: Path) -> str:
    parts = module.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycles_between_modules():
    graph = {_name(m): _imports_at_import_time(m) for m in modules()}
    for name in graph:
        graph[name] = {t for t in graph[name] if t in graph}
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, f"import cycles: {cycles}"


def test_import_vidlm_and_its_subpackages_loads_neither_torch_nor_transformers():
    code = ("import sys, vidlm, vidlm.config, vidlm.video, vidlm.data, vidlm.metrics, vidlm.viewing, vidlm.prompts, "
            "vidlm.families\nprint(sorted(m for m in ('torch', 'transformers', 'peft', 'av') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_the_readme_counts_the_tests_each_tier_runs():
    """The README's test counts are what pytest collects: all of them for `make test-all`, those not marked slow for
    `make test`."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow", "-p", "no:cacheprovider",
                           str(ROOT / "tests")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    slow, total = map(int, re.search(r"(\d+)/(\d+) tests collected", done.stdout).groups())
    readme = (ROOT / "README.md").read_text()
    fast_said = re.search(r"`make test` runs the fast tier: (\d+) tests", readme)
    all_said = re.search(r"`make test-all` runs all (\d+)", readme)
    assert fast_said and all_said, "the README says how many tests each tier runs"
    assert (int(fast_said.group(1)), int(all_said.group(1))) == (total - slow, total)
