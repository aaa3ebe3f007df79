"""Pydantic schemas of a task spec and a submission spec.

A task says *what is measured and how* (dataset, subjects, seeds, validation rule, protocol,
selection rule); a submission says *what is measured* (brain encoder x image model x training
recipe). Both are plain data: YAML in, validated model out, hashed by content.

Task kinds add their own protocol fields (``protocol:``), validated by the kind's own schema
(see ``bench.tasks``), so this module stays generic.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_serializer, model_validator


class Strict(BaseModel):
    """Base: unknown fields are errors (typos must not be silently ignored); specs are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SimulationSpec(Strict):
    """How to make the dataset when ``source: simulated`` (the embedded default, no downloads)."""

    size: Literal["micro", "tiny", "small", "full"] = "tiny"
    n_subjects: int = Field(2, ge=1, le=10)
    seed: int = 0
    snr: float = Field(1.0, gt=0)
    design: Literal["block", "randomized"] | None = Field(
        None, description="ImageNet-EEG only: presentation design (default: the simulator's, 'block')")


class DatasetSpec(Strict):
    """Which data, which subjects, and how trials become items."""

    name: str = Field(description="dataset plug-in name, e.g. 'things-eeg2'")
    variant: str | None = Field(None, description="published variant, e.g. '250hz' or '100hz'")
    source: Literal["real", "simulated"] = "real"
    simulation: SimulationSpec = SimulationSpec()
    subjects: list[int] = Field(min_length=1)
    train_repetitions: Literal["average", "single"] = "average"
    test_repetitions: Literal["average"] = "average"
    channels: list[str] | None = None
    time_window: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _simulated_subjects_exist(self) -> "DatasetSpec":
        if self.source == "simulated" and max(self.subjects) > self.simulation.n_subjects:
            raise ValueError(f"subjects {self.subjects} exceed simulation.n_subjects={self.simulation.n_subjects}; "
                             "raise simulation.n_subjects or list fewer subjects")
        return self


class ValidationSpec(Strict):
    """The validation split carved from training data only (model selection never sees test data)."""

    by: Literal["image", "concept"] = "image"
    fraction: float = Field(0.1, gt=0, lt=0.5)


class SelectionSpec(Strict):
    """How the reported checkpoint is chosen: on validation only. The last epoch is reported too."""

    metric: Literal["val_loss", "val_top1"] = "val_loss"
    report_last_epoch: bool = True


class TaskSpec(Strict):
    """A versioned benchmark task (``tasks/<name>.yaml``)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: int = Field(ge=1)
    kind: str = Field(description="task-kind plug-in: retrieval, classification, saliency, reconstruction "
                      "(cross-subject transfer is retrieval with scheme leave-one-subject-out)")
    description: str = ""
    variant: str = Field("default", description="'default' for the sound protocol, else the paper variant label")
    reference: str | None = Field(None, description="paper/protocol this variant reproduces")
    dataset: DatasetSpec
    scheme: Literal["within-subject", "leave-one-subject-out", "pooled"] = "within-subject"
    validation: ValidationSpec = ValidationSpec()
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)
    selection: SelectionSpec = SelectionSpec()
    protocol: dict[str, Any] = Field(default_factory=dict, description="kind-specific fields")
    headline_metric: str = "top1"

    @field_validator("seeds", "dataset")
    @classmethod
    def _no_duplicates(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else value.subjects
        if len(set(items)) != len(items):
            raise ValueError(f"duplicates in {items}")
        return value

    @field_validator("scheme")
    @classmethod
    def _loso_needs_training_subjects(cls, scheme: str, info: ValidationInfo) -> str:
        dataset = info.data.get("dataset")      # validated before scheme (field order)
        if scheme == "leave-one-subject-out" and dataset is not None and len(dataset.subjects) < 2:
            raise ValueError(f"leave-one-subject-out trains on the subjects other than the held-out one, so "
                             f"dataset.subjects needs at least 2 (got {dataset.subjects}); list 2 or more, or "
                             f"use scheme within-subject")
        return scheme


class ComponentSpec(Strict):
    """A plug-in chosen by registry name, with its parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class TemperatureSpec(Strict):
    """InfoNCE temperature: declared fixed or learnable (stored as log(1/tau), CLIP style)."""

    initial: float = Field(0.07, gt=0)
    learnable: bool = False


class OptimizerSpec(Strict):
    name: Literal["adam", "adamw", "sgd"] = "adamw"
    lr: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)


class RecipeSpec(Strict):
    """How the brain encoder is trained. Defaults follow AlignVis; paper recipes are spelled out in YAML."""

    loss: Literal["infonce", "infonce+mse", "triplet"] = "infonce"
    mse_weight: float = Field(0.0, ge=0, le=1, description="(1-lambda) for 'infonce+mse' (ATM recon recipe)")
    temperature: TemperatureSpec = TemperatureSpec()
    normalise: Literal["l2", "train-mean-center-l2", "center-l2", "per-vector-center-l2"] = Field(
        "l2", description="'l2': L2 only; 'train-mean-center-l2' (legacy name 'center-l2', same computation): "
                          "subtract the training images' mean image embedding from image embeddings, then L2; "
                          "'per-vector-center-l2' (AlignVis): centre every brain and image vector on its own "
                          "mean (Pearson r) in training and evaluation. Sources: bench.training.losses.NORMALISATIONS")
    exclude_false_negatives: Literal["none", "image", "concept"] = "none"
    optimizer: OptimizerSpec = OptimizerSpec()
    scheduler: Literal["none", "cosine"] = "none"
    batch_size: int = Field(128, ge=2)
    epochs: int = Field(50, ge=1)
    early_stopping_patience: int | None = Field(25, ge=1)
    embed_dim: int | None = Field(None, description="None: the image model's embedding size")
    precision: Literal["auto", "fp32", "amp", "bf16"] = Field(
        "auto", description="auto: fp32 on CPU, mixed precision on CUDA; fp32; amp (CUDA mixed precision); "
                            "bf16: bf16 autocast on CPU (AMX / AVX512-BF16) and CUDA, an error where unsupported")
    image_encoder: Literal["frozen", "finetune"] = Field(
        "frozen", description="joint-embedding tasks (Palazzo): train the image encoder too ('finetune') or not")
    grad_clip: float | None = None


RECONSTRUCTION_BASELINES = ("retrieval-nearest-train", "ground-truth", "shuffled-ground-truth")


class ReconstructionsSpec(Strict):
    """Where a submission's image reconstructions come from (reconstruction tasks only; exactly one source).

    folder:    ``<folder>/<test image id>.png|.jpg|.jpeg`` (one sample) or ``<folder>/<test image id>/<k>.png``
               (k = 0, 1, ...: several samples); test image ids contain '/', so the folders mirror
               them. ``{subject}`` (e.g. ``recs/sub-{subject:02d}``) is replaced by the unit's subject.
               Relative paths are relative to the working directory. See ``bench/tasks/reconstruction.py``.
    generator: ``"package.module:function"`` called as ``function(brain_embeddings, test_image_ids, **context)``
               after the submission's encoder is trained (validation-only selection); ``params`` are
               passed as keyword arguments. The contract is in ``bench/tasks/reconstruction.py``.
    baseline:  a built-in reconstructor: ``retrieval-nearest-train`` (the training image whose image
               embedding is nearest to the brain embedding; trains the encoder), ``ground-truth`` and
               ``shuffled-ground-truth`` (a seeded derangement), the sanity bounds of every metric.
    """

    folder: str | None = None
    generator: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    baseline: Literal["retrieval-nearest-train", "ground-truth", "shuffled-ground-truth"] | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the generator")

    @model_validator(mode="after")
    def _exactly_one_source(self) -> "ReconstructionsSpec":
        given = [k for k in ("folder", "generator", "baseline") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of folder / generator / baseline (got {given or 'none'})")
        if self.params and self.generator is None:
            raise ValueError("'params' are keyword arguments of a generator; remove them or use 'generator'")
        return self


class SubmissionSpec(Strict):
    """A brain encoder x an image model x a training recipe (``submissions/<name>.yaml``).

    ``reconstructions`` (optional) says where image reconstructions come from on reconstruction
    tasks; absent, it is left out of the spec's dump and hash, so other submissions are unchanged.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    authors: list[str] = Field(default_factory=list)
    tasks: list[str] = Field(min_length=1, description="task names this submission is evaluated on by default")
    encoder: ComponentSpec
    image_model: ComponentSpec
    recipe: RecipeSpec = RecipeSpec()
    tags: dict[str, str] = Field(default_factory=dict, description="free labels shown on the leaderboard")
    reconstructions: ReconstructionsSpec | None = Field(
        None, description="reconstruction tasks: a folder of images, a generator entry point, or a baseline")

    @model_serializer(mode="wrap")
    def _omit_absent_reconstructions(self, handler: Any) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("reconstructions", 0) is None:
            del data["reconstructions"]          # keeps the dump (and hash) of other submissions unchanged
        return data

    @model_validator(mode="after")
    def _loss_fields(self) -> "SubmissionSpec":
        if self.recipe.loss == "infonce+mse" and self.recipe.mse_weight == 0:
            raise ValueError("recipe.loss is 'infonce+mse' but recipe.mse_weight is 0; set mse_weight > 0")
        return self


def split_names(scheme: str, subjects: list[int]) -> list[tuple[str, int]]:
    """(split name, evaluated subject) pairs of a scheme: ``sub-XX`` per subject (within-subject),
    ``loso-XX`` per held-out subject (leave-one-subject-out), or one ``pooled`` split (subject 0).
    The one place split names are made: task kinds, statistics and pages all use it."""
    if scheme == "pooled":
        return [("pooled", 0)]
    prefix = "loso" if scheme == "leave-one-subject-out" else "sub"
    return [(f"{prefix}-{s:02d}", s) for s in subjects]


# Fields that do not change what is computed, left out of content hashes.
NON_SEMANTIC_FIELDS = frozenset({"description", "authors", "tags"})
