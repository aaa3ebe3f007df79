"""Zero-shot image retrieval from brain signals (THINGS-EEG2 200-way, THINGS-MEG, NSD, cross-subject).

One unit = one subject (``scheme: within-subject``) or one held-out subject (``scheme:
leave-one-subject-out``), one seed:

1. load the training part of the training subject(s) (the test part is not touched yet);
2. carve the validation split from training data (seeded; by image or by concept);
3. embed the training images with the submission's image model (cached on disk);
4. train the brain encoder with the recipe; select the checkpoint on validation only;
5. load the test part, embed the test images, build the gallery (``protocol.gallery``), score the
   chosen and the last checkpoint with ``protocol.similarity``: rank of the true gallery column,
   top-k, exact k-way expectations (+ seeded sampled draws), optional MindEye-style batch retrieval.

Paper variants (``tasks/*-nice.yaml``, ``*-atm.yaml``, ``*-alignvis.yaml``, ``nsd-retrieval-mindeye.yaml``)
change only the protocol block below; model selection stays on validation in every one of them.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np

from bench.config.schema import SubmissionSpec, split_names
from bench.errors import ConfigError
from bench.settings import Settings
from bench.tasks import TASK_KINDS
from bench.tasks.base import Protocol, TaskKind, Unit, UnitOutput


class RetrievalProtocol(Protocol):
    """Retrieval protocol: the gallery, the similarity, the reported k's, and the k-way sizes."""

    gallery: Literal["stimulus", "concept-centre"] = "stimulus"
    """'stimulus': the test images' embeddings (default). 'concept-centre' (NICE ``nice_stand.py``): per
    test image, the mean embedding of the *other* THINGS images of its concept (``object_images/``,
    see ``bench/data/things_eeg2.py``), not re-normalised."""
    similarity: Literal["cosine", "pearson", "dot-unnormalised-gallery"] = "cosine"
    """See ``bench.metrics.retrieval.SIMILARITIES``: cosine (default), Pearson r (AlignVis),
    dot product of the L2-normalised brain embedding with the gallery as it is (NICE)."""
    direction: Literal["brain->image"] = "brain->image"
    """Queries are brain responses, the gallery images (MindEye1's "fwd" label is image->brain)."""
    top_k: list[int] = [1, 5]
    k_way: list[int] = [2, 4, 10, 50, 100]
    """k-way sizes: ``kway/<k>/top1`` (+ top5 for k >= 50) is the exact expectation over distractor sets."""
    k_way_sampled: bool = True
    """Also report one seeded draw per k (``kway/<k>/top<t>/sampled``), the paper-comparable value."""
    batch_retrieval: list[int] = []
    """MindEye1-style batch sizes B: ``batch<B>/top1`` = top-1 within seeded disjoint batches of B."""
    shuffle_training_pairs: bool = False
    """Null control: pair every training image with another image's brain response (a seeded
    permutation of images), so nothing image-specific can be learned; scores must fall to chance."""


def normalise_targets(train_embeddings: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """The centring vector of ``method`` (the mean of the training image embeddings for
    'train-mean-center-l2' / legacy 'center-l2'; zeros otherwise) and the normalised training
    embeddings (:func:`image_targets`). Methods: ``bench.training.losses.NORMALISATIONS``."""
    from bench.training.losses import centres_on_training_mean

    centre = (train_embeddings.mean(axis=0) if centres_on_training_mean(method)
              else np.zeros(train_embeddings.shape[1]))
    centre = centre.astype(np.float32)
    return centre, image_targets(train_embeddings, centre, method)


def image_targets(embeddings: np.ndarray, centre: np.ndarray, method: str) -> np.ndarray:
    """Image embeddings as the recipe normalises them: minus ``centre``, centred per vector for
    'per-vector-center-l2' (AlignVis), then L2 (float32)."""
    from bench.training.losses import center_per_vector, centres_per_vector

    x = np.asarray(embeddings, dtype=np.float64) - centre
    return l2_rows(center_per_vector(x) if centres_per_vector(method) else x)


def brain_embeddings(brain: np.ndarray, method: str) -> np.ndarray:
    """Encoder outputs as the recipe normalises them before scoring (per-vector centring for AlignVis)."""
    from bench.training.losses import center_per_vector, centres_per_vector

    return center_per_vector(np.asarray(brain, dtype=np.float64)) if centres_per_vector(method) else brain


def concept_centre_gallery(ds, test_images, image_model, centre: np.ndarray, method: str, settings: Settings,
                           progress: bool = False) -> np.ndarray:
    """NICE's gallery (``nice_stand.py`` L228, L375; centres from ``preprocessing/get_center_images.py``):
    per test image, the mean of the normalised embeddings of the other THINGS images of its concept.
    The mean of unit vectors is NOT re-normalised (norms < 1), as NICE's centres are not."""
    from bench.images import embed_image_set

    if not hasattr(ds, "concept_centre_images"):
        raise ConfigError(f"dataset '{ds.name}' has no extra concept images for a concept-centre gallery",
                          field="protocol.gallery", fix="use 'gallery: stimulus' (concept centres exist for "
                                                        "THINGS-EEG2 with the THINGS object_images/ folder)")
    others, owner = ds.concept_centre_images("test")
    emb = image_targets(embed_image_set(image_model, others, settings, progress=progress), centre, method)
    gallery = np.zeros((len(test_images), emb.shape[1]), dtype=np.float64)
    np.add.at(gallery, owner, emb)
    counts = np.bincount(owner, minlength=len(test_images))
    return (gallery / np.maximum(counts, 1)[:, None]).astype(np.float32)


def check_embed_dim(recipe, n_dims: int, submission: str) -> None:
    """Brain embeddings live in the image model's space: a declared ``recipe.embed_dim`` must match it."""
    if recipe.embed_dim and recipe.embed_dim != n_dims:
        raise ConfigError(f"recipe.embed_dim={recipe.embed_dim} differs from the image model's embedding size "
                          f"{n_dims}", where=f"submission '{submission}'", field="recipe.embed_dim",
                          fix="remove recipe.embed_dim (brain and image embeddings are compared directly)")


def training_sets(train, row_image: np.ndarray, targets: np.ndarray, *index: np.ndarray) -> list:
    """One in-memory ``TrainingSet`` per row index (e.g. training and validation rows): the signal rows of
    ``train`` (pooled cross-subject storage is read row-wise via ``take``) with their image targets."""
    import torch

    from bench.training.loop import TrainingSet

    def build(idx: np.ndarray) -> TrainingSet:
        rows = train.take(idx) if hasattr(train, "take") else np.ascontiguousarray(train.signals[idx])
        return TrainingSet(signals=torch.from_numpy(rows),
                           targets=torch.from_numpy(targets[row_image[idx]]),
                           image_index=torch.from_numpy(row_image[idx]),
                           concepts=torch.from_numpy(train.concepts[idx].astype(np.int64)),
                           subjects=torch.from_numpy(train.subjects[idx].astype(np.int64)))

    return [build(idx) for idx in index]


def l2_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32 (zero rows stay zero)."""
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


@TASK_KINDS.register("retrieval")
class Retrieval(TaskKind):
    """Contrastive brain-to-image retrieval; see the module docstring for the unit's steps."""

    name = "retrieval"
    ProtocolModel = RetrievalProtocol

    # ---- plan --------------------------------------------------------------------------------
    def splits(self) -> list[tuple[str, int]]:
        if self.task.scheme == "pooled":
            raise ConfigError("scheme 'pooled' is not supported by task kind 'retrieval'",
                              where=f"task '{self.task.name}'", field="scheme",
                              fix="use 'within-subject' or 'leave-one-subject-out'")
        return split_names(self.task.scheme, self.task.dataset.subjects)

    def train_subjects(self, unit: Unit) -> list[int]:
        """Subjects whose training data train the unit's model (never the held-out one in LOSO)."""
        if self.task.scheme == "leave-one-subject-out":
            return [s for s in self.task.dataset.subjects if s != unit.subject]
        return [unit.subject]

    def fingerprint(self, unit: Unit, settings: Settings) -> dict[str, str]:
        from bench.data.checksum import combine
        from bench.data.locate import open_dataset
        from bench.images import build_image_model

        ds = open_dataset(self.task.dataset, settings)
        parts = [ds.checksum(s, "train") for s in self.train_subjects(unit)]
        parts.append(ds.checksum(unit.subject, "test"))
        parts += [ds.images("train").content_hash(settings.cache_dir), ds.images("test").content_hash(settings.cache_dir)]
        if self.protocol.gallery == "concept-centre":
            if not hasattr(ds, "concept_centre_images"):
                raise ConfigError(f"dataset '{self.task.dataset.name}' cannot build a concept-centre gallery",
                                  where=f"task '{self.task.name}'", field="protocol.gallery",
                                  fix="use 'gallery: stimulus'")
            parts.append(ds.concept_centre_images("test")[0].content_hash(settings.cache_dir))
        model = build_image_model(unit.submission.image_model.name, unit.submission.image_model.params, settings)
        return {"data_checksum": combine(parts), "weights_checksum": model.weights_checksum(),
                "image_model_id": model.model_id}

    def validate_submission(self, submission: SubmissionSpec) -> None:
        from bench.encoders import ENCODERS
        from bench.images import IMAGE_MODELS

        ENCODERS.require(submission.encoder.name)
        IMAGE_MODELS.require(submission.image_model.name)

    def chance(self, n_gallery: int | None = None) -> dict[str, float]:
        from bench.metrics.retrieval import chance_levels

        return chance_levels(n_gallery, self.protocol.top_k, self.protocol.k_way,
                             self.protocol.batch_retrieval) if n_gallery else {}

    # ---- run ---------------------------------------------------------------------------------
    def run(self, unit: Unit, settings: Settings, progress: bool = True, *, validation_only: bool = False,
            on_epoch=None) -> UnitOutput:
        import torch

        from bench.data.base import BrainData
        from bench.data.locate import open_dataset
        from bench.data.splits import validation_split
        from bench.encoders import build_encoder
        from bench.images import build_image_model, embed_image_set
        from bench.metrics.retrieval import chance_levels, retrieval_scores, similarity
        from bench.training.loop import embed, fit, load_state

        task, sub, recipe = self.task, unit.submission, unit.submission.recipe
        device = settings.torch_device()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()

        ds = open_dataset(task.dataset, settings)
        load_kw = dict(channels=task.dataset.channels, time_window=task.dataset.time_window)
        if task.scheme == "leave-one-subject-out":
            # Nine subjects at once: each is cached once on disk (repetitions averaged while streaming,
            # float16 when safe) and pooled without a concatenated copy; rows are read from the cache
            # files only when the training/validation sets are built (bench/data/pooling.py).
            from bench.data.pooling import pool_subjects

            train = pool_subjects(ds, self.train_subjects(unit), cache_dir=settings.cache_dir,
                                  repetitions=task.dataset.train_repetitions, **load_kw)
        else:
            train_parts = [ds.load(s, "train", repetitions=task.dataset.train_repetitions, **load_kw)
                           for s in self.train_subjects(unit)]
            train = train_parts[0] if len(train_parts) == 1 else BrainData.concat(train_parts)
            del train_parts
        timings["load_train"] = time.perf_counter() - t0

        tr_idx, va_idx = validation_split(train.image_ids, train.concepts, by=task.validation.by,
                                          fraction=task.validation.fraction, seed=unit.seed)

        t = time.perf_counter()
        image_model = build_image_model(sub.image_model.name, sub.image_model.params, settings)
        train_images = ds.images("train")
        train_emb = embed_image_set(image_model, train_images, settings, progress=progress)
        timings["embed_train_images"] = time.perf_counter() - t

        row_image = train_images.index_of(train.image_ids)
        if self.protocol.shuffle_training_pairs:
            images = np.unique(row_image)
            mapping = dict(zip(images, np.random.default_rng([unit.seed, 104729]).permutation(images)))
            row_image = np.array([mapping[i] for i in row_image], dtype=np.int64)
        fit_images = np.unique(row_image[tr_idx])
        centre, _ = normalise_targets(train_emb[fit_images], recipe.normalise)
        targets = image_targets(train_emb, centre, recipe.normalise)

        train_set, val_set = training_sets(train, row_image, targets, tr_idx, va_idx)
        shape = train.shape
        train_checksum = train.checksum
        del train

        check_embed_dim(recipe, targets.shape[1], sub.name)
        torch.manual_seed(unit.seed)
        encoder = build_encoder(sub.encoder, shape, n_outputs=targets.shape[1], subjects=self.train_subjects(unit))
        n_params = sum(p.numel() for p in encoder.parameters())

        t = time.perf_counter()
        result = fit(encoder, train_set, val_set, recipe, seed=unit.seed, device=device,
                     selection_metric=task.selection.metric, on_epoch=on_epoch, progress=progress)
        timings["train"] = time.perf_counter() - t
        del train_set, val_set
        info = {"n_train": int(len(tr_idx)), "n_val": int(len(va_idx)), "train_subjects": self.train_subjects(unit),
                "device": device, "n_parameters": int(n_params), "last_epoch": result.last_epoch,
                "stopped_early": result.stopped_early, "train_data_checksum": train_checksum}
        if validation_only:
            best = result.chosen_epoch - 1
            metrics = {name: float(values[best]) for name, values in result.curves.items()
                       if name.startswith("val_") and len(values) > best}
            return UnitOutput(metrics=metrics, per_item={}, curves=result.curves, chosen_epoch=result.chosen_epoch,
                              timings=timings, info=info)

        # Only now is the test split read.
        t = time.perf_counter()
        test = ds.load(unit.subject, "test", repetitions="average", **load_kw)
        test_images = ds.images("test")
        test_emb = image_targets(embed_image_set(image_model, test_images, settings, progress=progress), centre,
                                 recipe.normalise)
        gallery = (concept_centre_gallery(ds, test_images, image_model, centre, recipe.normalise, settings, progress)
                   if self.protocol.gallery == "concept-centre" else test_emb)
        true_index = test_images.index_of(test.image_ids)
        signals = torch.from_numpy(np.ascontiguousarray(test.signals))
        subjects = torch.from_numpy(test.subjects.astype(np.int64))

        metrics: dict[str, float] = {}
        per_item: dict[str, list] = {}
        for label, state in (("", result.best_state), ("last_epoch/", result.last_state)):
            load_state(encoder, state)
            brain = brain_embeddings(embed(encoder, signals, subjects, device=device).cpu().numpy(), recipe.normalise)
            sim = similarity(brain, gallery, self.protocol.similarity)
            scores, items = retrieval_scores(sim, true_index, top_ks=self.protocol.top_k,
                                             k_ways=self.protocol.k_way, seed=unit.seed,
                                             item_ids=test.image_ids, sampled=self.protocol.k_way_sampled,
                                             batch_sizes=self.protocol.batch_retrieval)
            metrics.update({label + k: v for k, v in scores.items()})
            if not label:
                per_item = items
        timings["evaluate"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        return UnitOutput(
            metrics=metrics, per_item=per_item, curves=result.curves, chosen_epoch=result.chosen_epoch,
            timings=timings,
            info={**info, "n_test": int(len(test)), "n_gallery": int(len(test_images)),
                  "chance": chance_levels(len(test_images), self.protocol.top_k, self.protocol.k_way,
                                          self.protocol.batch_retrieval),
                  "gallery": self.protocol.gallery, "similarity": self.protocol.similarity,
                  "embedding_dim": int(test_emb.shape[1])})
