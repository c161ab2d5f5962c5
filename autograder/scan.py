"""A static scan of a submission for idioms that tamper with grading, for the instructor to review.

The grader (the parent process, outside the sandbox) scans the notebook file as
submitted, before anything runs. It reads each code cell that is not one of the
assignment's own locked or test cells, turns IPython syntax (``%magic``,
``!cmd``) into Python with IPython's own transformer, parses it, and reports
what it finds: IPython and interpreter hooks that can rewrite or silence a test
cell, reflection that reaches into frames, closures or the garbage collector,
replacements of functions in imported modules, code built from computed
strings (``exec``/``eval``/``compile``/``__import__``/``getattr`` of a
non-literal), process, network and ``/proc`` access. Literal strings passed to
``exec``/``eval``/``compile`` are parsed and scanned too. A flag changes no
score: it is a pointer for a human (``grading_report.csv``, the CLI table).
A scan is not a proof: code that hides from it (say, behind ``pickle``, which
is itself flagged) is still caught only by the sandbox and the seal.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from autograder.protocol import grade_id

HOOK_ATTRIBUTES = {
    "input_transformers_post": "registers an IPython input transformer",
    "input_transformers_cleanup": "registers an IPython input transformer",
    "input_transformer_manager": "changes IPython's input transformations",
    "ast_transformers": "registers an IPython AST transformer",
    "set_custom_exc": "sets a custom exception handler",
    "custom_exceptions": "sets a custom exception handler",
    "CustomTB": "replaces IPython's traceback handler",
    "showtraceback": "replaces IPython's traceback display",
    "_showtraceback": "replaces IPython's traceback display",
    "excepthook": "replaces sys.excepthook",
    "displayhook": "replaces the display hook",
    "display_pub": "replaces the display publisher",
    "shell_handlers": "touches the kernel's message handlers",
    "do_execute": "touches the kernel's execute handler",
    "execute_request": "touches the kernel's execute handler",
    "user_expressions": "touches the kernel's user expressions",
    "run_cell": "runs or replaces IPython's cell runner",
    "run_cell_async": "runs or replaces IPython's cell runner",
    "run_ast_nodes": "runs or replaces IPython's cell runner",
    "transform_cell": "replaces IPython's cell transformation",
    "transform_ast": "replaces IPython's AST transformation",
    "history_manager": "touches IPython's input history",
    "prefilter_manager": "touches IPython's input prefilter",
    "register_magic_function": "registers an IPython magic",
    "register_magics": "registers an IPython magics class",
    "load_extension": "loads an IPython extension",
    "settrace": "sets a trace function",
    "setprofile": "sets a profile function",
    "addaudithook": "adds an audit hook",
    "meta_path": "changes the import system",
    "path_hooks": "changes the import system",
    "modules": "touches sys.modules",
    "_getframe": "inspects interpreter frames",
    "f_back": "inspects interpreter frames",
    "f_locals": "inspects interpreter frames",
    "f_globals": "inspects interpreter frames",
    "f_lineno": "inspects interpreter frames",
    "tb_frame": "inspects interpreter frames",
    "gi_frame": "inspects interpreter frames",
    "cr_frame": "inspects interpreter frames",
    "__code__": "reads or replaces a function's code",
    "co_code": "reads or replaces a function's code",
    "__closure__": "reads a closure",
    "cell_contents": "reads a closure",
    "__globals__": "reads a function's globals",
    "__builtins__": "touches the builtins",
    "__subclasses__": "walks the class hierarchy",
    "get_referrers": "walks the garbage collector",
    "get_referents": "walks the garbage collector",
    "get_objects": "walks the garbage collector",
    "_seal": "touches the grading seal",
    "_arm": "touches the grading seal",
    "system": "runs a shell command",
    "getoutput": "runs a shell command",
    "popen": "runs a shell command",
    "fork": "starts processes",
    "forkpty": "starts processes",
    "kill": "sends signals to processes",
    "killpg": "sends signals to processes",
    "setsid": "starts a new session",
    "posix_spawn": "starts processes",
}
PROCESS_PREFIXES = ("exec", "spawn")          # os.execv, os.spawnl, ...
MODULES = {
    "ctypes": "loads native code (ctypes)", "cffi": "loads native code (cffi)",
    "gc": "walks the garbage collector", "inspect": "inspects interpreter internals",
    "importlib": "imports modules dynamically", "imp": "imports modules dynamically",
    "pickle": "deserialises code (pickle)", "marshal": "deserialises code (marshal)",
    "dill": "deserialises code (dill)", "cloudpickle": "deserialises code (cloudpickle)",
    "shelve": "deserialises code (shelve)", "code": "runs code dynamically", "codeop": "compiles code dynamically",
    "types": "builds code or functions (types)", "builtins": "touches the builtins",
    "subprocess": "starts processes", "multiprocessing": "starts processes", "pty": "starts processes",
    "signal": "handles or sends signals", "socket": "opens network connections",
    "urllib": "opens network connections", "http": "opens network connections",
    "requests": "opens network connections", "ssl": "opens network connections",
    "zmq": "talks to the kernel's sockets", "ipykernel": "reaches into the kernel",
    "jupyter_client": "reaches into the kernel", "traitlets": "reaches into IPython's configuration",
    "threading": "starts threads", "_thread": "starts threads", "sysconfig": "inspects the installation",
    "site": "changes the import system", "atexit": "registers exit handlers",
}
IPYTHON_ALLOWED = ("IPython.display",)
DYNAMIC = {"exec": "runs code from a string", "eval": "runs code from a string",
           "compile": "compiles code from a string", "__import__": "imports a module by name",
           "getattr": "reads an attribute by computed name", "setattr": "sets an attribute by computed name",
           "delattr": "deletes an attribute by computed name"}
NAMESPACE_CALLS = {"globals": "manipulates the global namespace", "vars": "manipulates a namespace",
                   "locals": "manipulates a local namespace", "breakpoint": "starts the debugger"}
KNOWN_MODULE_NAMES = {"torch", "np", "numpy", "nn", "F", "tc", "transformer_course", "grading", "sys", "os",
                      "builtins", "math", "IPython", "random", "time", "plt", "matplotlib"}
# Assignments into modules that are settings, not code.
SETTINGS = re.compile(r"(torch\.backends|np\.random\.seed|numpy\.random\.seed|plt\.rcParams|matplotlib\.rcParams)\b")
NAMESPACE_ITEMS = re.compile(r"\bmodules\b|__dict__|__builtins__|\bbuiltins\b|globals\(\)|vars\(")
SUSPICIOUS_STRINGS = [(re.compile(r"/proc\b"), "mentions /proc"),
                      (re.compile(r"gradebook|solutions/|\.seal-key"), "mentions grading internals"),
                      (re.compile(r"\.pth\b|site-packages|sitecustomize|usercustomize"),
                       "mentions the Python installation"),
                      (re.compile(r"/dev/tcp|/etc/passwd|/root\b|/home/"), "mentions system paths")]
TEXT_FALLBACK = re.compile("|".join(re.escape(w) for w in list(HOOK_ATTRIBUTES)[:40] + ["exec(", "eval(",
                                                                                        "__import__"]))


@dataclass(frozen=True)
class Flag:
    cell: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.cell} line {self.line}: {self.what}"


def _python(source: str) -> str:
    """IPython syntax (%magic, !cmd) as the Python the kernel would run."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(source)
    except Exception:  # a cell IPython cannot transform is scanned as it is
        return source


class _Scanner(ast.NodeVisitor):
    def __init__(self, line_offset: int = 0, depth: int = 0):
        self.found: list[tuple[int, str]] = []
        self.offset, self.depth = line_offset, depth
        self.modules = set(KNOWN_MODULE_NAMES)

    def flag(self, node: ast.AST, what: str) -> None:
        self.found.append((self.offset + getattr(node, "lineno", 1), what))

    def _module(self, name: str, node: ast.AST) -> None:
        top = name.split(".")[0]
        if top == "IPython" and not name.startswith(IPYTHON_ALLOWED):
            self.flag(node, f"imports {name} (IPython internals)")
        elif top in MODULES:
            self.flag(node, f"imports {name}: {MODULES[top]}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(alias.name, node)
            self.modules.add((alias.asname or alias.name).split(".")[0])
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._module(module, node)
        for alias in node.names:
            full = f"{module}.{alias.name}"
            if alias.name in HOOK_ATTRIBUTES and module.split(".")[0] in ("sys", "os", "gc", "inspect"):
                self.flag(node, f"imports {full}: {HOOK_ATTRIBUTES[alias.name]}")
            if alias.name in PROCESS_PREFIXES or alias.name.startswith(PROCESS_PREFIXES) and module == "os":
                self.flag(node, f"imports {full}: starts processes")
            self.modules.add(alias.asname or alias.name)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._attribute(node.attr, node)
        self.generic_visit(node)

    def _attribute(self, attr: str, node: ast.AST) -> None:
        if attr in HOOK_ATTRIBUTES and not (attr == "modules" and not _rooted_at(node, {"sys"})):
            if attr in ("system", "kill", "fork", "popen") and not _rooted_at(node, {"os", "get_ipython"}):
                return
            self.flag(node, f"{HOOK_ATTRIBUTES[attr]} ({attr})")
        elif attr.startswith(PROCESS_PREFIXES) and _rooted_at(node, {"os"}):
            self.flag(node, f"starts processes (os.{attr})")
        elif attr == "register" and isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "events":
            self.flag(node, "registers an IPython event callback (events.register)")

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in DYNAMIC:
            position = 1 if name in ("getattr", "setattr", "delattr") else 0
            arg = node.args[position] if len(node.args) > position else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if name in ("exec", "eval", "compile"):
                    self._literal_code(arg.value, node)
                elif name == "__import__":
                    self._module(arg.value, node)
                else:
                    self._attribute(arg.value, node)
                    if name != "getattr" and _root_name(node.args[0]) in self.modules:
                        self.flag(node, f"replaces {_dotted(node.args[0])}.{arg.value} ({name} on a module)")
            elif arg is not None or name in ("exec", "eval", "compile"):
                self.flag(node, f"{DYNAMIC[name]} ({name} of a computed value)")
        elif name in NAMESPACE_CALLS:
            self.flag(node, f"{NAMESPACE_CALLS[name]} ({name}())")
        self.generic_visit(node)

    def _literal_code(self, code: str, node: ast.AST) -> None:
        if self.depth > 3:
            return
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return
        inner = _Scanner(self.offset + node.lineno - 1, self.depth + 1)
        inner.modules = self.modules
        inner.visit(tree)
        self.found += [(self.offset + node.lineno, f"{what} (inside a string passed to exec/eval)")
                       for _, what in inner.found]

    def _target(self, target: ast.AST, verb: str) -> None:
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            root, dotted = _root_name(target), _dotted(target)
            if isinstance(target, ast.Subscript) and not NAMESPACE_ITEMS.search(dotted):
                return   # item assignment (plt.rcParams[...], os.environ[...]) changes settings, not code
            if root in self.modules and root != "self" and not SETTINGS.match(dotted):
                self.flag(target, f"{verb} {dotted} (monkeypatching a module)")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element, verb)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target, "replaces")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, "changes")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._target(target, "deletes")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            for pattern, what in SUSPICIOUS_STRINGS:
                if pattern.search(node.value):
                    self.flag(node, f"{what} ({node.value[:40]!r})")


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _rooted_at(node: ast.AST, names: set[str]) -> bool:
    return _root_name(node) in names


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)[:60]
    except Exception:
        return "?"


def scan_source(source: str) -> list[tuple[int, str]]:
    """(line, what) for every suspicious idiom in one cell's source."""
    code = _python(source)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return [(source[:m.start()].count("\n") + 1, f"mentions {m.group(0).rstrip('(')} (cell does not parse)")
                for m in TEXT_FALLBACK.finditer(source)]
    scanner = _Scanner()
    scanner.visit(tree)
    return sorted(set(scanner.found))


def scan_notebook(nb, locked: dict[str, str] | None = None) -> list[Flag]:
    """Flags for every code cell of `nb` that runs as the student wrote it.

    `locked` maps the assignment's locked cells (setup, tests) grade_id -> canonical source.
    nbgrader restores the first cell carrying such a grade_id from the gradebook before
    anything runs, so its submitted text is not scanned; nor is a verbatim copy of one.
    """
    locked = locked or {}
    restored: set[str] = set()
    flags: list[Flag] = []
    for index, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        gid = grade_id(cell)
        if gid in locked and gid not in restored:
            restored.add(gid)
            continue
        if source in locked.values():
            continue
        label = f"cell '{gid}'" if gid else f"cell {index}"
        flags += [Flag(label, line, what) for line, what in scan_source(source)]
    return flags
