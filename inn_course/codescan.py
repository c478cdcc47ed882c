"""Static checks of the code a student wrote, before it runs: what could interfere with grading.

nbgrader runs a submission's code in the same kernel as the tests that grade
it. Code that rewires IPython (input or AST transformers: the test cells are
emptied before they run), patches builtins or library functions the tests
call, defines objects that compare equal to anything, reaches the grading kit
or a hidden test's variables, starts processes, opens network connections or
touches files outside its folder can change its own score. None of this is
needed to answer the lab, so any of it flags the submission for a human to
look at; the submission is still graded (in the sandbox, which is what keeps
it away from everything else).

The scan fails closed:

- each cell is read *as IPython runs it*: IPython's own cell transformer
  turns magics and shell escapes into the Python calls they are, then the
  result is parsed; a payload behind a magic is read like any other code;
- what is allowed is listed, not what is forbidden, wherever a list can be
  complete: the modules a cell may import, the double-underscore attributes
  it may touch, the magics it may use; everything else is flagged;
- a cell that cannot be read (too large, not valid Python once transformed,
  nested too deep, a crash of the analysis itself) is flagged with the reason,
  never skipped.

It remains a signal for a human, not a guarantee: Python offers more ways to
reach an object than any scan can list, which is why the kernel runs in a
sandbox whatever the scan says.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_CELL_CHARS = 100_000  # the longest answer of the lab is under 5,000 characters

KINDS = {
    "ipython": "rewires IPython or the grading",
    "builtins": "patches builtins or uses dynamic code",
    "introspection": "reaches objects by introspection or reads hidden names",
    "patch": "patches a library the tests use",
    "compare": "redefines comparison or arithmetic",
    "process": "starts or signals processes",
    "network": "uses the network",
    "files": "touches files outside its folder",
    "imports": "imports a module the lab does not need",
    "unreadable": "could not be analysed",
}

# Modules an answer may import (top-level package names). Anything else is flagged.
ALLOWED_MODULES = {"torch", "torchvision", "numpy", "matplotlib", "math", "time", "random", "itertools",
                   "functools", "collections", "dataclasses", "typing", "abc", "copy", "statistics",
                   "warnings", "os", "__future__", "string", "enum", "numbers"}
# Modules flagged with their own reason (the rest of the non-allowed ones are "imports").
MODULES = {
    "process": {"subprocess", "multiprocessing", "threading", "_thread", "signal", "ctypes", "pty", "asyncio",
                "concurrent", "sched", "resource"},
    "network": {"socket", "urllib", "http", "requests", "httpx", "ftplib", "smtplib", "telnetlib", "ssl",
                "aiohttp", "paramiko", "socketserver", "xmlrpc"},
    "files": {"shutil", "glob", "pathlib", "tempfile", "sqlite3", "fnmatch", "io", "zipfile", "tarfile",
              "mmap", "fcntl"},
    "ipython": {"IPython", "ipykernel", "traitlets", "nbgrader", "nbformat", "nbclient", "jupyter_client",
                "jupyter_core", "zmq", "tornado"},
    "builtins": {"builtins", "__builtin__", "importlib", "marshal", "pickle", "codecs", "base64", "binascii",
                 "zlib", "bz2", "lzma", "operator", "runpy", "code", "codeop", "types", "opcode", "dis"},
    "introspection": {"inspect", "gc", "sys", "traceback", "weakref", "linecache", "ast", "tracemalloc",
                      "faulthandler", "atexit", "site"},
}
# Names a library module is bound to in the notebook; assigning to their attributes patches them.
LIBRARY_NAMES = {"torch", "nn", "F", "torchvision", "plt", "np", "numpy", "math", "os", "sys", "time",
                 "random", "builtins", "matplotlib", "IPython", "functools", "itertools", "collections"}
GRADING_NAMES = {"_KIT", "grading_kit", "nbgrader", "NBGRADER_EXECUTION", "get_ipython", "__builtins__",
                 "__builtin__", "In", "Out", "_ih", "_oh", "_dh", "_i", "_ii", "_iii", "exit", "quit"}
IPYTHON_ATTRIBUTES = {"input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                      "set_custom_exc", "events", "register_magic_function", "run_cell", "run_line_magic",
                      "run_cell_magic", "user_ns", "user_global_ns", "displayhook", "showtraceback",
                      "history_manager", "magics_manager", "transform_cell", "input_transformer_manager",
                      "excepthook", "set_trace", "settrace", "setprofile", "ast_node_interactivity",
                      "display_formatter", "display_pub", "formatters", "for_type", "for_type_by_name"}
# Double-underscore attributes an answer may use; every other one is a road into introspection.
ALLOWED_DUNDER_ATTRIBUTES = {"__init__", "__name__", "__class__", "__doc__"}
INTROSPECTION_ATTRIBUTES = {"f_globals", "f_locals", "f_back", "f_builtins", "f_code", "gi_frame", "cr_frame",
                            "ag_frame", "tb_frame", "tb_next", "co_code", "co_consts", "cell_contents",
                            "_getframe", "func_globals"}
OS_CALLS = {
    "process": {"system", "popen", "fork", "forkpty", "kill", "killpg", "_exit", "abort", "setsid",
                "spawnl", "spawnv", "spawnlp", "spawnvp", "spawnve", "execl", "execle", "execv", "execve",
                "execlp", "execvp", "execvpe", "posix_spawn", "posix_spawnp", "setpgid", "setuid", "nice"},
    "files": {"remove", "unlink", "rename", "replace", "listdir", "scandir", "walk", "fwalk", "chdir",
              "makedirs", "mkdir", "rmdir", "open", "chmod", "chown", "symlink", "link", "truncate",
              "mkfifo", "mknod", "removedirs", "utime", "fdopen", "read", "write"},
    "introspection": {"environ", "getenv", "putenv", "unsetenv", "environb"},
}
DUNDERS = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__abs__", "__sub__",
           "__rsub__", "__float__", "__int__", "__index__", "__instancecheck__", "__subclasscheck__",
           "__torch_function__", "__torch_dispatch__", "__array_ufunc__", "__array_function__",
           "__getattribute__", "__getattr__", "__del__", "__hash__", "__class_getitem__", "__init_subclass__",
           "__set_name__", "__prepare__", "__new__", "__round__", "__neg__", "__pos__", "__mul__",
           "__rmul__", "__truediv__", "__add__", "__radd__", "__contains__", "__iter__", "__len__",
           "__format__", "__repr__", "__str__", "__reduce__", "__reduce_ex__", "__setattr__", "__call__",
           "__enter__", "__exit__", "__get__", "__set__", "__delattr__", "__dir__", "__mro_entries__"}
# Built-in names that give code as data, or a namespace by value: flagged wherever they appear.
DYNAMIC_NAMES = {"exec", "eval", "compile", "__import__", "breakpoint", "setattr", "delattr", "globals",
                 "vars", "locals", "dir", "__build_class__", "__loader__", "__spec__"}
FILE_CALLS = {"open", "Path", "PurePath", "savefig", "save", "load", "read_text", "write_text",
              "read_bytes", "write_bytes", "unlink", "rmdir", "rename", "touch", "iterdir", "glob",
              "rglob", "loadtxt", "savetxt", "fromfile", "tofile", "symlink_to", "hardlink_to", "chmod",
              "readlink", "lstat", "open_code", "memmap"}
PATH_METHODS = {"read_text", "write_text", "read_bytes", "write_bytes", "unlink", "rmdir", "rename", "touch",
                "iterdir", "glob", "rglob", "symlink_to", "hardlink_to", "chmod", "readlink", "lstat",
                "open_code"}
SUSPICIOUS_TEXT = ("gradebook", "source/", "/source", "..", "autograded", "release/", "submitted", "feedback/",
                   "/etc/", "/proc", "/root", "/home", "/tmp", "/sys", "/dev", "/run", "/var")
# Magics an answer may use: name -> how its argument is read ("code": Python, scanned like the cell;
# "word": a plain option such as `inline`).
ALLOWED_MAGICS = {"matplotlib": "word", "time": "code", "timeit": "code"}
# Names IPython binds to its input and output history (_i3, _5, ...): they hold the test cells' code.
_HISTORY_NAME = re.compile(r"_i{1,3}\d*|_\d+|_{2,3}")


@dataclass(frozen=True)
class Finding:
    cell: str
    line: int
    kind: str  # a key of KINDS
    code: str  # the offending line, shortened and made printable

    def __str__(self) -> str:
        return f"{KINDS[self.kind]} (cell {self.cell}, line {self.line}: {self.code})"


def printable(text: str, limit: int = 80) -> str:
    """Student text made safe for a flag: printable, valid UTF-8 (no lone surrogates), short."""
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def ipython_to_python(source: str) -> str:
    """The Python that IPython runs for a cell: magics and ``!`` escapes become calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


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


def _constant_str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the code binds: assignments, definitions, arguments, imports, loop and with targets."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


def library_aliases(tree: ast.AST, libraries: set[str]) -> set[str]:
    """Other names for library modules and objects: ``import torch as t``, ``T = torch.Tensor``."""
    found = set(libraries)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= {alias.asname or alias.name.split(".")[0] for alias in node.names if alias.name != "*"}
    for _ in range(3):  # chains of aliases: a = torch; b = a.Tensor
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if isinstance(node.value, (ast.Name, ast.Attribute)) and _root_name(node.value) in found:
                    found |= {t.id for t in targets if isinstance(t, ast.Name)}
    return found


@dataclass
class Context:
    """What the scan knows of the whole notebook: the names its visible code binds, the library aliases."""

    defined: set[str]
    libraries: set[str]

    @classmethod
    def of(cls, sources: Iterable[str]) -> "Context":
        defined, libraries = set(), set(LIBRARY_NAMES)
        for source in sources:
            tree = _parse(source)
            if tree is not None:
                defined |= bound_names(tree)
                libraries |= library_aliases(tree, libraries)
        return cls(defined, libraries - {"self"})


def _parse(source: str) -> ast.AST | None:
    """The syntax tree of a cell as IPython runs it, or None when it cannot be read."""
    if len(source) > MAX_CELL_CHARS:
        return None
    try:
        return ast.parse(ipython_to_python(source))
    except (SyntaxError, RecursionError, MemoryError, ValueError, UnicodeError):
        return None


class _Visitor(ast.NodeVisitor):
    def __init__(self, context: Context, depth: int) -> None:
        self.found: list[tuple[int, str, str]] = []  # (line, kind, code override or "")
        self.context = context
        self.depth = depth

    def add(self, node: ast.AST, kind: str, code: str = "") -> None:
        self.found.append((getattr(node, "lineno", 1), kind, code))

    # imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(node, alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.add(node, "imports")  # a relative import: there is no package here
        self._module(node, node.module or "")
        for alias in node.names:
            if alias.name == "*" or _is_dunder(alias.name) or alias.name.startswith("_"):
                self.add(node, "introspection")
            if node.module == "os":  # from os import system: the call then needs no "os." to be seen
                for kind, calls in OS_CALLS.items():
                    if alias.name in calls:
                        self.add(node, kind)
        self.generic_visit(node)

    def _module(self, node: ast.AST, name: str) -> None:
        top = name.split(".")[0]
        kinds = [kind for kind, modules in MODULES.items() if top in modules]
        for kind in kinds:
            self.add(node, kind)
        if not kinds and top not in ALLOWED_MODULES:
            self.add(node, "imports")
        if any(part.startswith("_") and not _is_dunder(part) for part in name.split(".")[1:]):
            self.add(node, "introspection")  # torch._C, numpy._core: private machinery

    # names and attributes
    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        defined = self.context.defined
        if name in GRADING_NAMES - {"In", "Out", "exit", "quit"} \
                or (name in {"In", "Out", "exit", "quit"} or _HISTORY_NAME.fullmatch(name)) and name not in defined:
            self.add(node, "ipython")
        elif name in DYNAMIC_NAMES:
            self.add(node, "builtins")
        elif isinstance(node.ctx, ast.Load) and name.startswith("_") and name not in defined \
                and name not in {"_", "__name__", "__file__"}:
            self.add(node, "introspection")  # a hidden test's variable, read before it is compared
        elif isinstance(node.ctx, ast.Load) and name == "_" and "_" not in defined:
            self.add(node, "ipython")  # IPython's last output: a test cell's last value
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr, root = node.attr, _root_name(node)
        if attr in IPYTHON_ATTRIBUTES and root not in {"self", "torch", "nn", "F", "np", "numpy", "plt"} \
                or attr in GRADING_NAMES:
            self.add(node, "ipython")
        if attr in {"system", "getoutput"} and root == "get_ipython":
            self.add(node, "process")
        if _is_dunder(attr) and (attr not in ALLOWED_DUNDER_ATTRIBUTES or not isinstance(node.ctx, ast.Load)):
            self.add(node, "introspection")
        if attr in INTROSPECTION_ATTRIBUTES:
            self.add(node, "introspection")
        if root in self.context.libraries and attr.startswith("_") and not _is_dunder(attr):
            self.add(node, "introspection")  # torch._C and the like
        if root == "os":
            for kind, calls in OS_CALLS.items():
                if attr in calls:
                    self.add(node, kind)
        if root == "torch" and attr == "hub":
            self.add(node, "network")
        self.generic_visit(node)

    # assignments to library attributes: torch.allclose = ..., torch.Tensor.abs = ...
    def _targets(self, node: ast.AST, targets: list[ast.AST]) -> None:
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                    root = _root_name(sub)
                    if root in self.context.libraries:
                        self.add(node, "patch")
                    if root in GRADING_NAMES:
                        self.add(node, "ipython")
                if isinstance(sub, ast.Subscript) and isinstance(sub.ctx, (ast.Store, ast.Del)) \
                        and _root_name(sub) in self.context.libraries:
                    self.add(node, "patch")  # os.environ["X"] = ..., sys.modules["torch"] = ...

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
        self._targets(node, node.targets)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            if name.startswith("_") and name not in self.context.defined:
                self.add(node, "introspection")
        self.generic_visit(node)

    # classes that can compare equal to anything
    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name in DUNDERS:
            self.add(node, "compare")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if node.keywords:  # metaclass=...: the class's own type decides ==, in and isinstance
            self.add(node, "compare")
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in {"type", "float", "int", "bool", "complex", "str",
                                                          "tuple", "list", "dict", "ABCMeta"}:
                self.add(node, "compare")  # a subclass of a built-in type can pass for it
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if self._allowed_magic(node):
            return
        if isinstance(func, ast.Name) and func.id in {"getattr", "hasattr"}:
            attribute = _constant_str(node.args[1]) if len(node.args) > 1 else None
            if attribute is None or _is_dunder(attribute) or attribute in IPYTHON_ATTRIBUTES | GRADING_NAMES:
                self.add(node, "builtins")  # a computed attribute name
        if isinstance(func, ast.Name) and func.id == "type" and len(node.args) > 1:
            self.add(node, "builtins")  # type(name, bases, namespace): a class made at run time
        if name in FILE_CALLS and name not in {"load", "save"} or (
                name in {"load", "save"} and _root_name(func) in {"torch", "np", "numpy"}):
            texts = [a for a in [*node.args, *(k.value for k in node.keywords)]
                     if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if name in PATH_METHODS:
                self.add(node, "files")  # methods of a path built elsewhere
            elif not texts or not all(_literal_path_is_local(a) for a in texts):
                self.add(node, "files")  # a computed path, or one that leaves the folder
        self.generic_visit(node)

    def _allowed_magic(self, node: ast.Call) -> bool:
        """``get_ipython().run_line_magic('time', 'code')`` of an allowed magic: its payload is scanned."""
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr in {"run_line_magic", "run_cell_magic"}
                and isinstance(func.value, ast.Call) and isinstance(func.value.func, ast.Name)
                and func.value.func.id == "get_ipython" and not func.value.args and not node.keywords):
            return False
        args = [_constant_str(a) for a in node.args]
        if not args or None in args or args[0] not in ALLOWED_MAGICS:
            return False
        how = ALLOWED_MAGICS[args[0]]
        payload = args[-1] if func.attr == "run_cell_magic" else args[1]
        options = args[1] if func.attr == "run_cell_magic" else ""
        if how == "word":
            if not re.fullmatch(r"[\w.-]*", payload.strip()):
                return False
        else:
            if not re.fullmatch(r"(\s*-[a-z]\s*\d*)*\s*", options):
                return False
            if func.attr == "run_line_magic":
                payload = re.sub(r"^(\s*-[a-z]\s*\d*)+\s", "", payload)
            for line, kind, code in _analyse(payload, self.context, self.depth + 1):
                self.found.append((node.lineno + (line - 1 if func.attr == "run_cell_magic" else 0), kind, code))
        return True

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, str):
            if value in GRADING_NAMES | IPYTHON_ATTRIBUTES | DUNDERS or value in DYNAMIC_NAMES - {"dir", "input",
                                                                                                  "help", "vars"}:
                self.add(node, "ipython" if value in GRADING_NAMES | IPYTHON_ATTRIBUTES else "builtins")
            if any(text in value for text in SUSPICIOUS_TEXT) and ("/" in value or "gradebook" in value):
                self.add(node, "files")
        elif isinstance(value, bytes) and len(value) > 64:
            self.add(node, "builtins")  # a payload carried as bytes
        self.generic_visit(node)


def _analyse(source: str, context: Context, depth: int = 0) -> list[tuple[int, str, str]]:
    """(line, kind, code override) for one piece of IPython code; unreadable code is a finding."""
    if depth > 3:
        return [(1, "unreadable", "magics nested too deep")]
    if len(source) > MAX_CELL_CHARS:
        return [(1, "unreadable", f"{len(source):,} characters: too large to analyse")]
    try:
        tree = ast.parse(ipython_to_python(source))
    except SyntaxError as error:
        return [(error.lineno or 1, "unreadable",
                 f"not valid Python as IPython reads it ({printable(error.msg, 40)}): the cell runs nothing")]
    except (RecursionError, MemoryError, ValueError, UnicodeError) as error:
        return [(1, "unreadable", f"cannot be parsed ({type(error).__name__})")]
    visitor = _Visitor(context, depth)
    try:
        visitor.visit(tree)
    except RecursionError:
        return [(1, "unreadable", "nested too deep to analyse")]
    return visitor.found


def scan_code(cell_id: str, source: str, context: Context | None = None) -> list[Finding]:
    """What in one cell's code could interfere with grading (empty for ordinary answers).

    ``context``: what the notebook's visible code binds (by default, this cell's own names); reading an
    underscore name bound nowhere reads a hidden test's variable.
    """
    try:
        found = _analyse(source, context or Context.of([source]))
    except Exception as error:  # the analysis itself failed: fail closed, with the reason
        found = [(1, "unreadable", f"the analysis failed ({type(error).__name__})")]
    lines = source.splitlines() if len(source) <= MAX_CELL_CHARS else []
    findings: dict[tuple[int, str], Finding] = {}
    for number, kind, code in sorted(found):
        if not code:
            code = lines[number - 1].strip() if 0 < number <= len(lines) else ""
        findings.setdefault((number, kind), Finding(cell_id, number, kind, printable(code)))
    return list(findings.values())


def summary(findings: list[Finding], limit: int = 3) -> str:
    """One line for a flag: the kinds found, and the first few places."""
    kinds = sorted({KINDS[f.kind] for f in findings})
    lines = list(dict.fromkeys((f.cell, f.line, f.code) for f in findings))  # one entry per line
    places = "; ".join(f"cell {printable(cell, 40)} line {line}: {code}" for cell, line, code in lines[:limit])
    more = f"; and {len(lines) - limit} more" if len(lines) > limit else ""
    return f"code that could interfere with grading ({', '.join(kinds)}): {places}{more}"
