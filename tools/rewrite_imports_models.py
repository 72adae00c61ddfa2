"""Rewrite imports of the old `vae_latent_study.models` and `vae_latent_study.training` modules to the
subpackages they became (issue 22). Temporary tooling: stdlib only, for files another branch moved or
renamed while the split was made.

    python tools/rewrite_imports_models.py FILE.py [FILE.py ...]   # rewrites in place, prints a summary
    python tools/rewrite_imports_models.py --check FILE.py ...      # exit 1 if a file would change

What it rewrites, in each file:

- `from vae_latent_study import models` (and `training`, alone or among other names, at any depth, also
  `as` aliases): replaced by `from vae_latent_study.models import build, inference` etc., the submodules
  that the statement's scope (its function, or the module) uses; every `models.X` in that scope becomes
  `<submodule>.X`, and `setattr`/`getattr`/`monkeypatch.setattr(models, "X", ...)` get the submodule;
- `from vae_latent_study.models import X, Y as Z` (and `.training`): one import per submodule.

A submodule name that the file already uses for something else (`history`, `layers`, `train`, ...) is
imported as `<package>_<submodule>` (e.g. `training_history`). Other uses of the old module object (a bare
`models`, `training.__file__`) and names it does not know are left alone and reported, as are string
mentions such as "vae_latent_study.models" (code digests, mock targets): fix those by hand. Run
`ruff check --fix` and `ruff format` afterwards to sort and wrap the new imports.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

PACKAGE = "vae_latent_study"


def _table(modules: dict[str, str | tuple[str, ...]]) -> dict[str, str]:
    names: dict[str, str] = {}
    for module, listed in modules.items():
        for name in "".join(listed).split():
            names[name] = module
    return names


#: Where each name of the old `models.py` lives now (models/<module>.py).
MODELS = _table(
    {
        "precision": "PRECISIONS _as_float32 _full_precision precision_scope",
        "layers": (
            "LabelPlanes LogVariance ModelKind PACKAGE SAMPLERS STANDARDISE_MODES Sampler Sampling "
            "SeededDropout Standardise _Initializers _check_keys _derive_seed"
        ),
        "networks": (
            "CONV32_FILTERS KERAS_L2_FACTOR LAYER_TYPES LEAKY_RELU_SLOPE _DROPOUT_SEED_INDEX "
            "_SAMPLER_SEED_INDEX _Stack _activity_l2 _check_conv32_size _check_image_size _default_head "
            "_features _label_input _network_inputs _with_label _with_label_planes build_conv32_decoder "
            "build_conv32_encoder build_decoder build_dense_decoder build_dense_encoder build_encoder"
        ),
        "likelihoods": (
            "LEARNED_LOG_VARIANCES LIKELIHOODS SQUARED_ERROR_VARIANTS VARIANCES _LIKELIHOOD_KEYS "
            "_feature_axes _like_reconstruction check_likelihood initial_log_variance reconstruction_term"
        ),
        "autoencoders": (
            "AE KLReduction LAYER_MODES REGULARIZATION_LOSSES VAE _Conditional _LayerMode _Regularized "
            "_batch_size _has_activity_regularizer _reject_sample_weight _require_condition check_condition "
            "label_indices model_kind one_hot set_standardisation standardise_layers"
        ),
        "build": (
            "ARCHITECTURES MODEL_OPTIONS OPTIMIZERS SCHEDULE_DEFAULTS _build_from_options _build_symbolically "
            "_condition_size _wrap build_model build_model_from_options make_optimizer"
        ),
        "inference": (
            "_inputs _predict data_input_shape decode decode_log_variance encode load_model mean_code "
            "reconstruct style_transfer"
        ),
    }
)
#: Where each name of the old `training.py` lives now (training/<module>.py).
TRAINING = _table(
    {
        "history": "HISTORY_COLUMNS TRACE_COLUMN _write_history read_history",
        "backend": "_configure_tensorflow _tensorflow_backend runtime_versions",
        "inputs": (
            "Inputs SHUFFLE_STREAM _Batches _EpochCounter _pydataset_inputs _rows _tf_inputs "
            "condition_labels model_inputs shuffle_order"
        ),
        "callbacks": (
            "CONSOLE_SECONDS ConsoleProgress GeneratedStdTrace TRACE_STREAM TrainingDiverged _AtomicBackup "
            "_EarlyStopping _HISTORY_FILE _History _NaNGuard _duration _finite _scalar _stopped_epoch "
            "early_stopping_epoch"
        ),
        "train": (
            "CHECKPOINT_ENV CHECKPOINT_SECONDS RESTART_STREAM _FINGERPRINT_FILE _RESTART_DONE _RESTART_MODEL "
            "_RESTART_SUMMARY _backed_up_epoch _backup_clock _prepare_backup _restart _restart_dir "
            "_run_record checkpoint_interval restart_seed sidecar_path train_model"
        ),
    }
)
#: The old modules: their submodule tables, and the module a name imported from the old module's namespace
#: (not defined there) is found in now, for `training.time` and the like.
OLD = {"models": MODELS, "training": TRAINING}
#: Names that a test patches where they are read, which is not where they are defined: `train_model` reads
#: its own imported `_tensorflow_backend`, so `setattr(training, "_tensorflow_backend", ...)` must patch
#: `train`.
PATCH_SITES = {"training": {"_tensorflow_backend": "train"}}


class Edits:
    """Text replacements by (line, byte column) spans, applied from the end."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines(keepends=True)
        self.spans: list[tuple[int, int, int, int, str]] = []

    def replace(self, node: ast.AST, text: str) -> None:
        self.spans.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, text))

    def replace_statement(self, node: ast.stmt, text: str) -> None:
        """Replace a whole statement (its indentation stays)."""
        self.replace(node, text)

    def apply(self) -> str:
        data = [line.encode() for line in self.lines]
        for first, col, last, end_col, text in sorted(self.spans, reverse=True):
            head, tail = data[first - 1][:col], data[last - 1][end_col:]
            data[first - 1 : last] = [head + text.encode() + tail]
        return b"".join(data).decode()


def _identifiers(tree: ast.AST) -> set[str]:
    """Every name the file binds or reads (to avoid shadowing one with a submodule)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(node.name)
        elif isinstance(node, ast.alias):
            out.add((node.asname or node.name).split(".")[0])
    return out


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _scope(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return node
    return node


def _local_rebinders(scope: ast.AST, binding: str, statement: ast.AST) -> list[ast.AST]:
    """Functions inside `scope` with their own import of `binding` (their uses are theirs)."""
    out = []
    for node in ast.walk(scope):
        if node is scope or not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if inner is not statement and isinstance(inner, ast.ImportFrom | ast.Import):
                if any((a.asname or a.name) == binding for a in inner.names):
                    out.append(node)
    return out


def _indent(edits: Edits, node: ast.AST) -> str:
    line = edits.lines[node.lineno - 1]
    return line[: len(line) - len(line.lstrip())]


class Rewriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = path.read_text(encoding="utf-8")
        self.tree = ast.parse(self.source, filename=str(path))
        self.edits = Edits(self.source)
        self.parents = _parents(self.tree)
        self.taken = _identifiers(self.tree)
        self.notes: list[str] = []

    def note(self, node: ast.AST | None, message: str) -> None:
        where = f"{self.path}:{node.lineno}" if node is not None else str(self.path)
        self.notes.append(f"{where}: {message}")

    def binding(self, old: str, sub: str) -> tuple[str, str]:
        """(import clause, name used in the code) of submodule `sub` of the old module `old`."""
        if sub in self.taken:
            alias = f"{old}_{sub}"
            return f"{sub} as {alias}", alias
        return sub, sub

    def run(self) -> str:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                if node.module == PACKAGE and any(a.name in OLD for a in node.names):
                    self.package_import(node)
                elif node.module in {f"{PACKAGE}.{old}" for old in OLD}:
                    self.name_import(node, node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in {f"{PACKAGE}.{old}" for old in OLD}:
                        self.note(node, f"`import {alias.name}` left alone: rewrite it by hand")
        statements = {
            line
            for node in ast.walk(self.tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for line in range(node.lineno, node.end_lineno + 1)
        }
        olds = "|".join(OLD)
        submodules = "|".join(sorted({sub for table in OLD.values() for sub in table.values()}))
        # The old modules by name, not followed by one of their submodules (the new layout).
        mention = re.compile(
            rf"{PACKAGE}\.({olds})\b(?!\.({submodules})\b)|from {PACKAGE} import .*\b({olds})\b"
        )
        for lineno, line in enumerate(self.source.splitlines(), 1):
            if lineno not in statements and mention.search(line):
                self.note(
                    None,
                    f"line {lineno} mentions the old modules in text or code it does not parse: check it",
                )
        return self.edits.apply()

    def name_import(self, node: ast.ImportFrom, old: str) -> None:
        table, groups = OLD[old], {}
        submodules = set(table.values())
        if all(alias.name in submodules for alias in node.names):
            return  # the new layout already: `from vae_latent_study.models import build`
        for alias in node.names:
            if alias.name in submodules:
                sub = ""  # a submodule, imported as it is
            else:
                sub = table.get(alias.name, "")
                if not sub:
                    self.note(node, f"{old}.{alias.name} is unknown: left where it was, fix by hand")
            clause = alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
            groups.setdefault(sub, []).append(clause)
        indent = _indent(self.edits, node)
        lines = [
            f"from {PACKAGE}.{old}{'.' if sub else ''}{sub} import {', '.join(sorted(clauses))}"
            for sub, clauses in sorted(groups.items())
        ]
        self.edits.replace_statement(node, ("\n" + indent).join(lines))

    def package_import(self, node: ast.ImportFrom) -> None:
        keep = [a for a in node.names if a.name not in OLD]
        lines = []
        if keep:
            clauses = [a.name if a.asname is None else f"{a.name} as {a.asname}" for a in keep]
            lines.append(f"from {PACKAGE} import {', '.join(clauses)}")
        for alias in (a for a in node.names if a.name in OLD):
            subs = self.rewrite_uses(node, alias.name, alias.asname or alias.name)
            if subs:
                imports = sorted(subs.values())
                lines.append(f"from {PACKAGE}.{alias.name} import {', '.join(imports)}")
            else:
                self.note(node, f"{alias.asname or alias.name} is imported but no known name of it is used")
        indent = _indent(self.edits, node)
        self.edits.replace_statement(node, ("\n" + indent).join(lines) or "pass")

    def rewrite_uses(self, statement: ast.ImportFrom, old: str, binding: str) -> dict[str, str]:
        """Rewrite `binding.X` in the statement's scope; {submodule: its import clause}."""
        table = OLD[old]
        scope = _scope(statement, self.parents)
        skip = {id(n) for f in _local_rebinders(scope, binding, statement) for n in ast.walk(f)}
        used: dict[str, str] = {}

        def target(sub: str) -> str:
            clause, name = self.binding(old, sub)
            used[sub] = clause
            return name

        attribute_values = set()
        for node in ast.walk(scope):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id != binding:
                    continue
                attribute_values.add(id(node.value))
                sub = table.get(node.attr)
                if sub is None:
                    self.note(node, f"{binding}.{node.attr}: unknown name, left alone")
                    continue
                self.edits.replace(node.value, target(sub))
            elif isinstance(node, ast.Call) and len(node.args) >= 2:
                first, second = node.args[0], node.args[1]
                if (
                    isinstance(first, ast.Name)
                    and first.id == binding
                    and isinstance(second, ast.Constant)
                    and isinstance(second.value, str)
                ):
                    attribute_values.add(id(first))
                    name = second.value
                    sub = PATCH_SITES.get(old, {}).get(name, table.get(name))
                    if sub is None:
                        self.note(node, f"{binding}, {name!r}: unknown name, left alone")
                        continue
                    self.edits.replace(first, target(sub))
                    if name in PATCH_SITES.get(old, {}):
                        self.note(node, f"{name!r} is patched where it is read: {sub}")
        for node in ast.walk(scope):
            if (
                id(node) not in skip
                and isinstance(node, ast.Name)
                and node.id == binding
                and id(node) not in attribute_values
            ):
                self.note(node, f"a bare `{binding}` is left alone: rewrite it by hand")
        return used


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    args = parser.parse_args(argv)
    changed = 0
    for path in args.files:
        rewriter = Rewriter(path)
        text = rewriter.run()
        for note in rewriter.notes:
            print(note)
        if text != rewriter.source:
            changed += 1
            compile(text, str(path), "exec")  # the rewrite must still parse
            if not args.check:
                path.write_text(text, encoding="utf-8")
            print(f"{path}: {'would rewrite' if args.check else 'rewritten'}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
