"""Static checks of the code a student wrote, before it runs: what could interfere with grading.

nbgrader runs a submission's code in the same kernel as the tests that grade
it. Code that rewires IPython (input or AST transformers: the test cells are
emptied before they run), patches builtins or library functions the tests
call, defines objects that compare equal to anything, touches the grading
kit, starts processes, opens network connections or reads and writes files
outside its folder can change its own score, or another student's. None of
this is needed to answer the lab, so any of it flags the submission for a
human to look at; the submission is still graded.

The checks read the syntax tree (so ``# builtins`` in a comment is fine) and
a few IPython escapes (``!cmd``, ``%%bash``) that are not Python. Only cells a
student can change are read: nbgrader puts locked cells back as they were.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# Module names the notebook imports; assigning to their attributes patches them for the tests too.
LIBRARY_NAMES = {"torch", "nn", "F", "torchvision", "plt", "np", "numpy", "math", "os", "sys", "time",
                 "random", "builtins", "matplotlib", "IPython"}
GRADING_NAMES = {"_KIT", "grading_kit", "nbgrader", "NBGRADER_EXECUTION", "get_ipython", "__builtins__",
                 "__builtin__"}
IPYTHON_ATTRIBUTES = {"input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                      "set_custom_exc", "events", "register_magic_function", "run_cell", "run_line_magic",
                      "run_cell_magic", "user_ns", "displayhook", "showtraceback"}
MODULES = {
    "process": {"subprocess", "multiprocessing", "threading", "_thread", "signal", "ctypes", "pty", "asyncio",
                "concurrent"},
    "network": {"socket", "urllib", "http", "requests", "httpx", "ftplib", "smtplib", "telnetlib", "ssl",
                "aiohttp", "paramiko"},
    "files": {"shutil", "glob", "pathlib", "tempfile", "sqlite3", "pickle", "io", "fnmatch"},
    "ipython": {"IPython", "ipykernel", "traitlets", "nbgrader", "nbformat", "nbclient", "jupyter_client"},
    "builtins": {"builtins", "__builtin__", "importlib", "inspect", "gc"},
}
OS_CALLS = {
    "process": {"system", "popen", "fork", "forkpty", "kill", "killpg", "_exit", "abort", "setsid",
                "spawnl", "spawnv", "spawnlp", "spawnvp", "execl", "execv", "execlp", "execvp", "execve",
                "posix_spawn"},
    "files": {"remove", "unlink", "rename", "replace", "listdir", "scandir", "walk", "chdir", "makedirs",
              "mkdir", "rmdir", "open", "chmod", "chown", "symlink", "link", "truncate"},
}
DUNDERS = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__abs__", "__sub__",
           "__rsub__", "__float__", "__int__", "__index__", "__instancecheck__", "__subclasscheck__",
           "__torch_function__", "__array_ufunc__", "__getattribute__", "__del__"}
DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__", "breakpoint", "setattr", "delattr"}
FILE_CALLS = {"open", "Path", "PurePath", "savefig", "save", "load", "read_text", "write_text",
              "read_bytes", "write_bytes", "unlink", "rmdir", "rename", "touch", "iterdir", "glob",
              "rglob", "loadtxt", "savetxt", "fromfile", "tofile"}
SUSPICIOUS_TEXT = ("gradebook", "source/", "/source", "..", "autograded", "release/", "submitted", "feedback/",
                   "/etc/", "/proc", "/root", "/home", "/tmp")
ALLOWED_MAGICS = {"%matplotlib", "%time", "%timeit", "%%time", "%%timeit"}
KINDS = {
    "ipython": "rewires IPython or the grading",
    "builtins": "patches builtins or uses dynamic code",
    "patch": "patches a library the tests use",
    "compare": "redefines comparison or arithmetic",
    "process": "starts or signals processes",
    "network": "uses the network",
    "files": "touches files outside its folder",
}


@dataclass(frozen=True)
class Finding:
    cell: str
    line: int
    kind: str  # a key of KINDS
    code: str  # the offending line, shortened

    def __str__(self) -> str:
        return f"{KINDS[self.kind]} (cell {self.cell}, line {self.line}: {self.code})"


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _literal_path_is_local(node: ast.AST | None) -> bool:
    """A plain relative file name (``"irevnet.pt"``): inside the student's folder."""
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    value = node.value
    return not value.startswith(("/", "~")) and ".." not in value and "\\" not in value


class _Visitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []

    def add(self, node: ast.AST, kind: str) -> None:
        self.found.append((getattr(node, "lineno", 1), kind))

    # imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(node, alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._module(node, node.module or "")
        self.generic_visit(node)

    def _module(self, node: ast.AST, name: str) -> None:
        top = name.split(".")[0]
        for kind, modules in MODULES.items():
            if top in modules:
                self.add(node, kind)

    # names and attributes
    def visit_Name(self, node: ast.Name) -> None:
        if node.id in GRADING_NAMES:
            self.add(node, "ipython")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in IPYTHON_ATTRIBUTES or node.attr in GRADING_NAMES:
            self.add(node, "ipython")
        if node.attr == "modules" and _root_name(node) == "sys":
            self.add(node, "builtins")
        root = _root_name(node)
        if root == "os":
            for kind, calls in OS_CALLS.items():
                if node.attr in calls:
                    self.add(node, kind)
        if root == "torch" and node.attr == "hub":
            self.add(node, "network")
        self.generic_visit(node)

    # assignments to library attributes: torch.allclose = ..., torch.Tensor.abs = ...
    def _targets(self, node: ast.AST, targets: list[ast.AST]) -> None:
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store):
                    root = _root_name(sub)
                    if root in LIBRARY_NAMES:
                        self.add(node, "patch")
                    if root in GRADING_NAMES:
                        self.add(node, "ipython")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._targets(node, node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._targets(node, [node.target])
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._targets(node, [node.target])
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, ast.Attribute) and _root_name(target) in LIBRARY_NAMES:
                self.add(node, "patch")
        self.generic_visit(node)

    # classes that can compare equal to anything
    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name in DUNDERS:
            self.add(node, "compare")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if isinstance(func, ast.Name) and func.id in DYNAMIC_CALLS:
            self.add(node, "builtins")
        if name in FILE_CALLS and name not in {"load", "save"} or (
                name in {"load", "save"} and _root_name(func) in {"torch", "np", "numpy"}):
            texts = [a for a in [*node.args, *(k.value for k in node.keywords)]
                     if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if name in {"read_text", "write_text", "read_bytes", "write_bytes", "unlink", "rmdir", "rename",
                        "touch", "iterdir", "glob", "rglob"}:
                self.add(node, "files")  # methods of a path built elsewhere
            elif not texts or not all(_literal_path_is_local(a) for a in texts):
                self.add(node, "files")  # a computed path, or one that leaves the folder
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Name) and func.id in {"globals", "vars", "locals"}:
                self.add(node, "builtins")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value in GRADING_NAMES | IPYTHON_ATTRIBUTES:
            self.add(node, "ipython")  # getattr(ip, "ast_transformers"), os.environ["NBGRADER_EXECUTION"]
        if isinstance(node.value, str) and any(text in node.value for text in SUSPICIOUS_TEXT) \
                and ("/" in node.value or "gradebook" in node.value):
            self.add(node, "files")
        self.generic_visit(node)


def _escapes(source: str) -> tuple[str, list[tuple[int, str]]]:
    """IPython's ``!cmd`` and ``%magic`` lines: flagged, then blanked so the rest parses."""
    found, lines = [], []
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("!"):
            found.append((number, "process"))
            lines.append("")
        elif stripped.startswith("%"):
            if stripped.split()[0] not in ALLOWED_MAGICS:
                found.append((number, "ipython"))
            lines.append("")
        else:
            lines.append(line)
    return "\n".join(lines), found


def scan_code(cell_id: str, source: str) -> list[Finding]:
    """What in one cell's code could interfere with grading (empty for ordinary answers)."""
    python, found = _escapes(source)
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return [Finding(cell_id, n, kind, source.splitlines()[n - 1].strip()[:80]) for n, kind in found]
    visitor = _Visitor()
    visitor.visit(tree)
    lines = source.splitlines()
    findings = {}
    for number, kind in sorted(found + visitor.found):
        code = lines[number - 1].strip()[:80] if 0 < number <= len(lines) else ""
        findings.setdefault((number, kind), Finding(cell_id, number, kind, code))
    return list(findings.values())


def summary(findings: list[Finding], limit: int = 3) -> str:
    """One line for a flag: the kinds found, and the first few places."""
    kinds = sorted({KINDS[f.kind] for f in findings})
    lines = list(dict.fromkeys((f.cell, f.line, f.code) for f in findings))  # one entry per line
    places = "; ".join(f"cell {cell} line {line}: {code}" for cell, line, code in lines[:limit])
    more = f"; and {len(lines) - limit} more" if len(lines) > limit else ""
    return f"code that could interfere with grading ({', '.join(kinds)}): {places}{more}"
