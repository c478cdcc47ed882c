"""Does the static scan flag code that could interfere with grading, and nothing in ordinary answers?"""

import time

import pytest

from inn_course import codescan, notebooks, submissions

from .submissions import catalogue, variants

HOSTILE = {
    "ipython": [catalogue.INPUT_TRANSFORMER, catalogue.AST_TRANSFORMER, "_KIT.accuracy = lambda model: 100.0",
                "%%bash\nls", "import os\nos.environ['NBGRADER_EXECUTION']"],
    "builtins": [catalogue.PATCHED_BUILTINS, "exec('print(1)')", "globals()['test'] = print"],
    "introspection": ["import sys\nsys.modules", "import gc", "print(_expected)", "f = lambda: 0\nf.__globals__"],
    "patch": [catalogue.PATCHED_TORCH, "F.relu = torch.sigmoid", "nn.Module.__call__ = None"],
    "compare": [catalogue.ERROR_ALWAYS_SMALL],
    "process": [catalogue.BACKGROUND_PROCESS, catalogue.KERNEL_EXIT, "!ls", "import threading", "from os import system\nsystem('id')"],
    "network": [catalogue.NETWORK, "import urllib.request", "torch.hub.load('a', 'b')"],
    "files": [catalogue.READS_FILES, "open('/etc/passwd').read()", "torch.save(model, path)",
              "np.load('../../secret.npy')", "import shutil"],
}


@pytest.mark.parametrize("kind, source", [(k, s) for k, sources in HOSTILE.items() for s in sources])
def test_hostile_code_is_found(kind, source):
    """Is each kind of interference found, with a place and a reason?"""
    findings = codescan.scan_code("c", source)
    assert kind in {f.kind for f in findings}, findings
    assert codescan.KINDS[kind] in codescan.summary(findings)


@pytest.mark.parametrize("source", [
    "torch.save(irevnet.state_dict(), 'irevnet.pt')",
    "fig.savefig('paths.png', dpi=150)",
    "# builtins.abs = ... would be a comment",
    "text = 'use builtins carefully'",
    "%matplotlib inline\nx = 1",
    "%time train(net)",
    "for _ in range(3):\n    pass\nprint(_)",
    "blocks = [m for m in model.modules() if isinstance(m, nn.Conv2d)]",
    "name = type(model).__name__",
    "from dataclasses import dataclass",
    "self.conv.weight.data.mul_(0.5)",
    "with torch.no_grad():\n    model.eval()",
])
def test_ordinary_code_is_not_flagged(source):
    """Are saving to the student's own folder, comments, strings and inline magics left alone?"""
    assert codescan.scan_code("c", source) == []


def test_model_answers_and_correct_variants_raise_no_alarm(repo):
    """Does no cell of the reference submission, and no answer of the variants, raise a finding?"""
    reference = submissions.sample(repo, "reference")
    baseline = submissions.Baseline.of(repo)
    for cell in submissions.student_code_cells(reference, baseline):
        assert codescan.scan_code(cell.id, cell.source) == [], cell.id
    for variant in variants.VARIANTS:
        for grade_id, source in variant.answers.items():
            assert codescan.scan_code(grade_id, source) == [], (variant.name, grade_id)


# Ways to reach exec, IPython, builtins or the grading kit without naming them, each of which must be
# flagged (kind: why). Every line is a separate one-cell submission.
INDIRECTION = {
    "%time exec('print(1)')": "builtins",  # a payload behind an allowed line magic
    "%%time\nimport subprocess": "process",  # ... and behind an allowed cell magic
    "%timeit -n 1 -r 1 eval('1')": "builtins",
    "%matplotlib inline; import os": "ipython",  # not a plain option: the magic is not allowed
    "x = 1\n%load_ext autoreload\ny = 2": "ipython",  # one IPython-only line: the rest is still read
    "x = 1\n!ls\ntorch.allclose = None": "patch",
    "e = __builtins__": "ipython",
    "run = exec": "builtins",  # exec under another name
    "run = eval\nrun(bytes.fromhex('7072696e742831').decode())": "builtins",
    "import codecs\ncodecs.decode('rkrp', 'rot13')": "builtins",
    "import base64": "builtins",
    "getattr(__import__('builtins'), 'ex' + 'ec')('1')": "builtins",
    "f = getattr(torch, name)": "builtins",  # a computed attribute name
    "x = getattr(model, '__dict__')": "builtins",
    "ip = globals()['get_' + 'ipython']()": "builtins",
    "ns = vars()": "builtins",
    "kit = [v for v in globals().values() if hasattr(v, 'Block')]": "builtins",  # the kit, found by value
    "import gc\nkit = [o for o in gc.get_objects() if hasattr(o, 'Block')]": "introspection",
    "import sys\nsys._getframe(1).f_globals": "introspection",
    "classes = ().__class__.__base__.__subclasses__()": "introspection",
    "f = (lambda: 0).__globals__": "introspection",
    "hidden = In[3]": "ipython",  # the input history holds the test cells' code
    "hidden = _ih[3]": "ipython",
    "last = _i5": "ipython",
    "print(_)": "ipython",  # IPython's last output: a test cell's last value
    "value = _expected": "introspection",  # a hidden test's variable
    "import torch as t\nt.allclose = lambda *a, **k: True": "patch",
    "T = torch.Tensor\nT.abs = lambda self: self * 0": "patch",
    "setattr(torch, 'allclose', print)": "builtins",
    "import os\nos.environ.get('NBGRADER_EXECUTION')": "introspection",
    "import importlib\nimportlib.import_module('subprocess')": "builtins",
    "from torch import _C": "introspection",
    "class Meta(type):\n    pass": "compare",
    "class Anything(float, metaclass=M):\n    pass": "compare",
    "Sneaky = type('Sneaky', (float,), {})": "builtins",
    "import operator\noperator.attrgetter('ex' + 'ec')": "builtins",
    "import pickle": "builtins",
    "import seaborn": "imports",  # not needed by the lab: flagged, though harmless
    "from . import anything": "imports",
}


@pytest.mark.parametrize("source, kind", INDIRECTION.items())
def test_indirect_routes_are_flagged(source, kind):
    """Is each indirect route to dynamic code, IPython or the grading kit flagged with its reason?"""
    assert kind in {f.kind for f in codescan.scan_code("c", source)}, codescan.scan_code("c", source)


@pytest.mark.parametrize("source, why", [
    ("x = (" * 400 + ")" * 400, "not valid Python"),  # nested too deep for the parser
    ("s = '\ud800'", "cannot be parsed"),  # a lone surrogate
    ("def broken(:\n    pass", "not valid Python"),
    ("x = 1\n" * 30_000, "too large to analyse"),
])
def test_cells_that_cannot_be_read_are_flagged_not_skipped(source, why):
    """Does a cell the scan cannot read produce a finding with the reason, rather than a crash or silence?"""
    findings = codescan.scan_code("c", source)
    assert [f.kind for f in findings] == ["unreadable"] and why in findings[0].code, findings
    assert codescan.summary(findings).encode("utf-8")  # printable: no lone surrogate in the flag


def test_a_huge_cell_is_refused_fast():
    """Is a 25 MB cell refused in well under a second (it took the old scan 161 s and 8.6 GB)?"""
    started = time.perf_counter()
    findings = codescan.scan_code("c", "x = 1\n" * 5_000_000)
    assert findings[0].kind == "unreadable" and time.perf_counter() - started < 1.0


def test_locked_cells_are_not_scanned(repo):
    """Are the setup and test cells (put back by nbgrader) excluded, answers and added cells included?"""
    reference = submissions.sample(repo, "reference")
    baseline = submissions.Baseline.of(repo)
    ids = {c.id for c in submissions.student_code_cells(reference, baseline)}
    assert "setup" not in ids and "q09_exact_inverse" not in ids
    assert "q09_exact_inverse_answer" in ids and "q09_run" in ids
    assert notebooks.nbgrader(baseline.release_cells["setup"])["locked"]
