"""Does the static scan flag code that could interfere with grading, and nothing in ordinary answers?"""

import pytest

from inn_course import codescan, notebooks, submissions

from .submissions import catalogue, variants

HOSTILE = {
    "ipython": [catalogue.INPUT_TRANSFORMER, catalogue.AST_TRANSFORMER, "_KIT.accuracy = lambda model: 100.0",
                "%%bash\nls", "import os\nos.environ['NBGRADER_EXECUTION']"],
    "builtins": [catalogue.PATCHED_BUILTINS, "exec('print(1)')", "globals()['test'] = print", "import sys\nsys.modules"],
    "patch": [catalogue.PATCHED_TORCH, "F.relu = torch.sigmoid", "nn.Module.__call__ = None"],
    "compare": [catalogue.ERROR_ALWAYS_SMALL],
    "process": [catalogue.BACKGROUND_PROCESS, catalogue.KERNEL_EXIT, "!ls", "import threading"],
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


def test_unparsable_cells_still_report_escapes():
    """Does a cell with a syntax error still have its shell escapes found?"""
    findings = codescan.scan_code("c", "!curl example.org\ndef broken(:")
    assert [f.kind for f in findings] == ["process"]


def test_locked_cells_are_not_scanned(repo):
    """Are the setup and test cells (put back by nbgrader) excluded, answers and added cells included?"""
    reference = submissions.sample(repo, "reference")
    baseline = submissions.Baseline.of(repo)
    ids = {c.id for c in submissions.student_code_cells(reference, baseline)}
    assert "setup" not in ids and "q09_exact_inverse" not in ids
    assert "q09_exact_inverse_answer" in ids and "q09_run" in ids
    assert notebooks.nbgrader(baseline.release_cells["setup"])["locked"]
