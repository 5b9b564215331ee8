"""The README's submission example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

from optbench.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_submission_example_runs(tmp_path, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "make_submission" in b)
    path = tmp_path / "my_algo.py"
    path.write_text(example)
    code = main(
        [
            "run",
            "--submission",
            str(path),
            "--workload",
            "fmnist_mlp",
            "--size",
            "smoke",
            "--no-progress",
            "--experiment-dir",
            str(tmp_path / "exp"),
        ]
    )
    assert code == 0
    assert "fmnist_mlp: time-to-target" in capsys.readouterr().out
