"""User formats from YAML (`--format-file`): loading, parsing, detection, and exit-2 messages."""

from __future__ import annotations

import json
import math

import pytest

from losswatch.errors import UsageError
from losswatch.ingest import formats
from losswatch.ingest.formats.custom import load_format_file
from losswatch.ingest.reader import LogReader
from tests.cli import losswatch
from tests.conftest import ROOT

GOOD = r"""
formats:
  mytrainer:
    description: my trainer's stdout
    detect: '^\[mytrainer\]'
    regexes:
      - 'step (?P<step>\d+) .*loss=(?P<loss>\S+)'
      - 'eval acc1=(?P<acc1>\S+)'
    metrics: {acc1: val_acc}
"""

LOG = "[mytrainer] start\nstep 1 lr=0.1 loss=2.5\nstep 2 lr=0.1 loss=nan\neval acc1=0.5\n"


def _write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text)
    return p


_cli = losswatch


def test_load_and_parse(tmp_path, monkeypatch):
    (cls,) = load_format_file(str(_write(tmp_path, "f.yaml", GOOD)))
    assert cls.name == "mytrainer" and cls.description == "my trainer's stdout"
    assert cls.detect(LOG.splitlines()) >= formats.SURE
    assert cls.detect(["step 1 loss=2"]) == 0.0  # detect: regex given, so only it decides
    formats.all_formats()
    monkeypatch.setitem(formats._REGISTRY, cls.name, cls)  # registered for this test only
    r = LogReader("mytrainer")
    got = list(r.feed(LOG.encode(), wall_time=0.0)) + list(r.finish(wall_time=0.0))
    loss = [(s.step, s.value, s.line_no) for s in got if s.metric == "loss"]
    assert loss[0] == (1.0, 2.5, 2) and loss[1][0] == 2.0 and math.isnan(loss[1][1])
    # a line with no step group takes the last step seen; the group is renamed by `metrics:`
    assert [(s.step, s.value, s.line_no) for s in got if s.metric == "val_acc"] == [(2.0, 0.5, 4)]


def test_list_form_and_counter_steps(tmp_path):
    text = "formats:\n  - name: bare\n    regex: 'avg loss (?P<avg_loss>[\\d.]+)'\n"
    (cls,) = load_format_file(str(_write(tmp_path, "f.yaml", text)))
    parser = cls()
    from losswatch.model import SampleBatch

    b = SampleBatch()
    parser.parse("avg loss 3.5\nnoise\navg loss 3.0", 1, b)
    assert list(zip(b.metrics, b.steps, b.values, b.lines, strict=True)) == [
        ("avg_loss", 0.0, 3.5, 1), ("avg_loss", 1.0, 3.0, 3)]


def test_cli_check_with_format_file(tmp_path):
    fmt = _write(tmp_path, "f.yaml", GOOD)
    log = _write(tmp_path, "run.log", LOG)
    p = _cli("check", "--json", "--format-file", str(fmt), str(log))
    assert p.returncode in (0, 1), p.stderr
    out = json.loads(p.stdout.splitlines()[0])
    assert out["format"] == "mytrainer"
    assert out["metrics"]["loss"]["count"] == 2 and out["metrics"]["loss"]["last"] == "nan"
    assert out["metrics"]["val_acc"]["last"] == 0.5


@pytest.mark.parametrize("text, line, words", [
    ("formats:\n  x:\n    regex: '(?P<loss>[a-'\n", 3, "bad regex"),
    ("formats:\n  x:\n    regex: 'loss (\\S+)'\n", 3, "no named group"),
    ("formats:\n  x: [1\n", 3, "bad YAML"),
    ("formats:\n  x:\n    regexp: 'a'\n", 3, "unknown key 'regexp'"),
    ("formats:\n  x:\n    description: no regex\n", 3, "needs `regex:`"),
    ("formats:\n  kv:\n    regex: '(?P<loss>x)'\n", 2, "taken by a built-in format"),
    ("formats:\n  x:\n    regex: '(?P<loss>x)'\n    metrics: {acc: val_acc}\n", 4, "no regex has"),
    ("formats:\n  x:\n    regex: '(?P<loss>x)'\n    detect: '('\n", 4, "detect: bad regex"),
    ("version: 1\nrules: []\n", 2, "unknown top-level key"),
    ("formats: {}\n", 1, "is empty"),
])
def test_bad_files_name_file_and_line(tmp_path, text, line, words):
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(UsageError) as e:
        load_format_file(str(path))
    assert str(e.value).startswith(f"{path}:{line}: "), str(e.value)
    assert words in str(e.value)


def test_cli_bad_file_exits_2_with_one_message(tmp_path):
    path = _write(tmp_path, "bad.yaml", "formats:\n  x:\n    regex: '(?P<loss>[a-'\n")
    log = _write(tmp_path, "run.log", LOG)
    p = _cli("check", "--format-file", str(path), str(log))
    assert p.returncode == 2
    assert f"{path}:3:" in p.stderr and "bad regex" in p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_cli_missing_file_exits_2(tmp_path):
    p = _cli("check", "--format-file", str(tmp_path / "nope.yaml"), str(_write(tmp_path, "run.log", LOG)))
    assert p.returncode == 2 and "nope.yaml" in p.stderr and "Traceback" not in p.stderr


def test_metrics_can_name_the_step_group(tmp_path):
    text = "formats:\n  it:\n    regex: 'it (?P<it>\\d+) l (?P<l>\\S+)'\n    metrics: {it: step, l: loss}\n"
    (cls,) = load_format_file(str(_write(tmp_path, "f.yaml", text)))
    from losswatch.model import SampleBatch

    b = SampleBatch()
    cls().parse("it 7 l 0.5", 1, b)
    assert list(zip(b.metrics, b.steps, b.values, strict=True)) == [("loss", 7.0, 0.5)]


def test_shipped_example_format_file(tmp_path):
    example = ROOT / "losswatch" / "examples" / "custom_format.yaml"
    log = _write(tmp_path, "run.log", "[mytrainer] ep 3 it 1200 loss 0.4312 lr 3.0e-04 gnorm 1.2\n"
                                      "[mytrainer] eval it 1200 top1 71.5 val_loss 1.034\n")
    p = _cli("check", "--json", "--format-file", str(example), str(log))
    assert p.returncode in (0, 1), p.stderr
    m = json.loads(p.stdout)["metrics"]
    assert m["grad_norm"]["last"] == 1.2 and m["val_acc"]["last"] == 71.5 and m["val_loss"]["last_step"] == 1200
