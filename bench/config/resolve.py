"""Identity is the resolved computation: specs with every default written out, hashed without noise.

A unit's key must hash what *runs*, not what the YAML happens to say (writing a default out must not
change a key; changing a default in code must). So, before hashing:

- a task's ``protocol:`` block is validated by its kind's ``ProtocolModel`` and stored with its
  defaults written out (:func:`resolve_task`, called by ``load_task``);
- a submission's ``encoder.params`` / ``image_model.params`` are merged with the defaults of the
  plug-in's constructor signature (scikit-learn's ``get_params``; :func:`plugin_signature`), and
  parameters a plug-in declares in ``non_semantic_params`` (e.g. NICE's ``impl``: the same
  function, implemented differently) are left out of the identity (:func:`identity`).

Signatures are read without importing the plug-in when it is not imported yet: the class's source is
parsed (``ast``) for its ``__init__`` defaults and ``non_semantic_params``; only literal defaults
count, anything else falls back to importing the class. So planning commands (``bench validate``)
never import torch. ``tests/config/test_identity.py`` checks that both readings agree for every
registered plug-in.
"""

from __future__ import annotations

import ast
import inspect
import sys
from dataclasses import dataclass
from typing import Any, Iterable

from pydantic import BaseModel, ValidationError

from bench.errors import ConfigError, RegistryError

#: Constructor parameters that are not plug-in parameters, per registry kind.
ENCODER_EXCLUDED = ("self", "n_chans", "n_times", "sfreq", "n_outputs", "subjects")
IMAGE_MODEL_EXCLUDED = ("self", "settings")
_MISSING = "<required>"
_ROOT_BASES = {"ABC", "object", "Generic", "Protocol"}


@dataclass(frozen=True)
class Signature:
    """What a plug-in's constructor accepts.

    defaults:     parameter -> default (``_MISSING`` text for required ones), excluded names removed.
    non_semantic: parameters that cannot change results (left out of identities).
    var_keyword:  the constructor takes ``**kwargs`` (unknown names are passed through).
    """

    defaults: dict[str, Any]
    non_semantic: frozenset[str]
    var_keyword: bool = False

    def resolve(self, given: dict[str, Any]) -> dict[str, Any]:
        """``given`` merged over the defaults (required parameters that were not given are left out)."""
        out = {k: v for k, v in self.defaults.items() if v != _MISSING}
        out.update(given)
        return out

    def unknown(self, given: Iterable[str]) -> list[str]:
        """Names in ``given`` the constructor does not accept."""
        return [] if self.var_keyword else [k for k in given if k not in self.defaults]


# ---------------------------------------------------------------------- signatures
def live_signature(cls: type, exclude: Iterable[str]) -> Signature:
    """The signature of an imported class (``inspect``)."""
    skip = set(exclude)
    params = inspect.signature(cls.__init__).parameters.values()
    defaults = {p.name: (_MISSING if p.default is p.empty else p.default) for p in params
                if p.name not in skip and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    return Signature(defaults, frozenset(getattr(cls, "non_semantic_params", ())), var_kw)


def static_signature(target: str, exclude: Iterable[str]) -> Signature | None:
    """The signature of ``"module:Class"`` read from its source without importing it; None if unsure."""
    from bench.registry import module_source

    module, _, name = target.partition(":")
    if not name or "." in name or module in sys.modules:
        return None
    found = _class_def(module, name, module_source)
    if found is None:
        return None
    init = _attribute_chain(found, "__init__", module_source)
    marker = _attribute_chain(found, "non_semantic_params", module_source)
    if init is None or init is False or marker is False:
        return None
    try:
        sig = _init_signature(init, set(exclude))
        non_semantic = frozenset(ast.literal_eval(marker)) if marker is not None else frozenset()
    except (ValueError, TypeError, SyntaxError):
        return None
    return Signature(sig[0], non_semantic, sig[1])


def _class_def(module: str, name: str, source) -> tuple[ast.ClassDef, str, ast.Module] | None:
    _, text = source(module)
    if text is None:
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node, module, tree
    return None


def _imported_from(tree: ast.Module, name: str, module: str) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return f"{node.module}:{alias.name}"
    return None


def _attribute_chain(found: tuple[ast.ClassDef, str, ast.Module], attr: str, source) -> Any:
    """The ``__init__`` FunctionDef, or the value node of a class attribute, following single
    inheritance through source files. None: nowhere defined; False: cannot tell statically."""
    node, module, tree = found
    for item in node.body:
        if attr == "__init__" and isinstance(item, ast.FunctionDef) and item.name == "__init__":
            return item
        targets = (item.targets if isinstance(item, ast.Assign) else
                   [item.target] if isinstance(item, ast.AnnAssign) and item.value is not None else [])
        if attr != "__init__" and any(isinstance(t, ast.Name) and t.id == attr for t in targets):
            return item.value
    bases = [b for b in node.bases if not (isinstance(b, ast.Name) and b.id in _ROOT_BASES)]
    if not bases:
        return None
    if len(bases) > 1 or not isinstance(bases[0], ast.Name):
        return False if attr == "__init__" or not _is_module_attr(bases) else None
    base = bases[0].id
    parent = _class_def(module, base, source) if any(
        isinstance(n, ast.ClassDef) and n.name == base for n in tree.body) else None
    if parent is None:
        origin = _imported_from(tree, base, module)
        if origin is None:
            return False
        parent = _class_def(*origin.split(":"), source)
        if parent is None:
            return False
    return _attribute_chain(parent, attr, source)


def _is_module_attr(bases: list[ast.expr]) -> bool:
    """Bases like ``nn.Module`` (attributes of a library) declare no plug-in attributes."""
    return all(isinstance(b, ast.Attribute) for b in bases)


def _init_signature(init: ast.FunctionDef, skip: set[str]) -> tuple[dict[str, Any], bool]:
    args = init.args
    positional = [*args.posonlyargs, *args.args]
    pos_defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    out: dict[str, Any] = {}
    for arg, default in zip(positional[len(args.posonlyargs):], pos_defaults[len(args.posonlyargs):]):
        if arg.arg not in skip:
            out[arg.arg] = _MISSING if default is None else ast.literal_eval(default)
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        if arg.arg not in skip:
            out[arg.arg] = _MISSING if default is None else ast.literal_eval(default)
    return out, args.kwarg is not None


def plugin_signature(registry: Any, name: str, exclude: Iterable[str]) -> Signature:
    """The constructor signature of plug-in ``name``: from the imported class when it is imported,
    else from its source (no import), else by importing it. RegistryError for an unknown name."""
    loaded = registry.loaded(name)
    if loaded is None:
        target = registry.target(name)
        if target is not None:
            sig = static_signature(target, exclude)
            if sig is not None:
                return sig
        loaded = registry.get(name)
    return live_signature(loaded, exclude)


# ---------------------------------------------------------------------- specs
def _component(which: str) -> tuple[Any, tuple[str, ...]]:
    """(registry, constructor names that are not plug-in parameters) of a submission component."""
    if which == "encoder":
        from bench.encoders import ENCODERS

        return ENCODERS, ENCODER_EXCLUDED
    from bench.images import IMAGE_MODELS

    return IMAGE_MODELS, IMAGE_MODEL_EXCLUDED


def component_signature(name: str, which: str) -> Signature | None:
    """Signature of the ``which`` ("encoder" | "image_model") plug-in ``name``; None if unknown."""
    registry, exclude = _component(which)
    try:
        return plugin_signature(registry, name, exclude)
    except RegistryError:
        return None


def resolve_submission(spec: Any) -> Any:
    """``spec`` with ``encoder.params`` and ``image_model.params`` merged over the plug-ins' defaults.

    Unknown plug-in names and unknown parameters are left as they are (``bench validate`` and the
    builders report them with the field and the accepted names).
    """
    updates = {}
    for which in ("encoder", "image_model"):
        comp = getattr(spec, which)
        sig = component_signature(comp.name, which)
        if sig is not None:
            resolved = sig.resolve(dict(comp.params))
            if resolved != comp.params:
                updates[which] = comp.model_copy(update={"params": resolved})
    return spec.model_copy(update=updates) if updates else spec


def resolve_protocol(task: Any, where: Any = None) -> dict[str, Any]:
    """The task's protocol validated by its kind's ``ProtocolModel``, defaults written out (JSON values).

    An unknown kind leaves the block as it is (``bench validate`` reports the kind)."""
    from bench.config import validation_error
    from bench.tasks import TASK_KINDS

    try:
        kind = TASK_KINDS.get(task.kind)
    except RegistryError:
        return dict(task.protocol)
    model: type[BaseModel] = kind.ProtocolModel
    try:
        return model.model_validate(task.protocol).model_dump(mode="json")
    except ValidationError as exc:
        raise validation_error(exc, where or f"task '{task.name}'", model, prefix="protocol.") from None


def check_headline_metric(task: Any, where: Any = None) -> None:
    """Raise ConfigError when ``headline_metric`` names no registered metric."""
    from bench.metrics import metric_info

    try:
        metric_info(task.headline_metric)
    except RegistryError as exc:
        raise ConfigError(f"unknown headline metric '{task.headline_metric}'", where=where,
                          field="headline_metric", fix=exc.fix) from None


def resolve_task(spec: Any, where: Any = None) -> Any:
    """``spec`` with its protocol resolved (defaults written out) and its headline metric checked."""
    check_headline_metric(spec, where)
    protocol = resolve_protocol(spec, where)
    return spec if protocol == spec.protocol else spec.model_copy(update={"protocol": protocol})


def identity(spec: BaseModel, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """What a spec's hash is computed from: the resolved spec without non-semantic fields/params."""
    from bench.config.schema import SubmissionSpec, TaskSpec

    if isinstance(spec, TaskSpec):
        spec = spec.model_copy(update={"protocol": resolve_protocol(spec)})
    data = spec.model_dump(mode="json", exclude=set(exclude) & set(spec.model_fields))
    if isinstance(spec, SubmissionSpec):
        for which in ("encoder", "image_model"):
            sig = component_signature(data[which]["name"], which)
            if sig is not None:
                params = sig.resolve(data[which]["params"])
                data[which]["params"] = {k: v for k, v in params.items() if k not in sig.non_semantic}
    return _jsonable(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


__all__ = ["Signature", "check_headline_metric", "component_signature", "identity", "live_signature",
           "plugin_signature", "resolve_protocol", "resolve_submission", "resolve_task", "static_signature"]
