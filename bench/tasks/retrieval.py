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

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from bench.config.schema import split_names
from bench.errors import ConfigError
from bench.settings import Settings
from bench.tasks import TASK_KINDS
from bench.tasks.base import Protocol, Unit
from bench.tasks.pipeline import PipelineTaskKind, Scored, UnitContext
from bench.training.targets import brain_embeddings, image_targets, normalise_targets, training_sets


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


@TASK_KINDS.register("retrieval")
class Retrieval(PipelineTaskKind):
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

    def chance(self, n_gallery: int | None = None) -> dict[str, float]:
        from bench.metrics.retrieval import chance_levels

        return chance_levels(n_gallery, self.protocol.top_k, self.protocol.k_way,
                             self.protocol.batch_retrieval) if n_gallery else {}

    # ---- the unit's steps (bench.tasks.pipeline runs them in order) ---------------------------
    def prepare(self, ctx: UnitContext) -> "RetrievalData":
        """Training rows of the training subject(s), the validation split, embedded image targets."""
        from bench.data.base import BrainData
        from bench.data.locate import open_dataset
        from bench.data.splits import validation_split
        from bench.images import build_image_model, embed_image_set

        task, unit, settings = self.task, ctx.unit, ctx.settings
        sub, recipe = unit.submission, unit.submission.recipe
        ds = open_dataset(task.dataset, settings)
        load_kw = dict(channels=task.dataset.channels, time_window=task.dataset.time_window)
        with ctx.timed("load_train"):
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

        tr_idx, va_idx = validation_split(train.image_ids, train.concepts, by=task.validation.by,
                                          fraction=task.validation.fraction, seed=unit.seed)
        with ctx.timed("embed_train_images"):
            image_model = build_image_model(sub.image_model.name, sub.image_model.params, settings)
            train_images = ds.images("train")
            train_emb = embed_image_set(image_model, train_images, settings, progress=ctx.progress)

        row_image = train_images.index_of(train.image_ids)
        if self.protocol.shuffle_training_pairs:
            images = np.unique(row_image)
            mapping = dict(zip(images, np.random.default_rng([unit.seed, 104729]).permutation(images)))
            row_image = np.array([mapping[i] for i in row_image], dtype=np.int64)
        fit_images = np.unique(row_image[tr_idx])
        centre, _ = normalise_targets(train_emb[fit_images], recipe.normalise)
        targets = image_targets(train_emb, centre, recipe.normalise)
        train_set, val_set = training_sets(train, row_image, targets, tr_idx, va_idx)
        ctx.info.update({"n_train": int(len(tr_idx)), "n_val": int(len(va_idx)),
                         "train_subjects": self.train_subjects(unit), "device": settings.torch_device(),
                         "train_data_checksum": train.checksum})
        return RetrievalData(ds, load_kw, image_model, centre, targets.shape[1], train.shape, train_set, val_set)

    def train(self, ctx: UnitContext, prepared: "RetrievalData"):
        from bench.training.encoder import train_encoder
        from bench.training.targets import check_embed_dim

        unit = ctx.unit
        check_embed_dim(unit.submission.recipe, prepared.n_dims, unit.submission.name)
        train_set, val_set = prepared.train_set, prepared.val_set
        prepared.train_set = prepared.val_set = None          # freed once training has ended
        trained = train_encoder(unit.submission, prepared.shape, self.train_subjects(unit), train_set, val_set,
                                seed=unit.seed, device=ctx.settings.torch_device(),
                                selection_metric=self.task.selection.metric, on_epoch=ctx.on_epoch,
                                progress=ctx.progress)
        ctx.info["n_parameters"] = trained.n_parameters
        return trained

    def load_test(self, ctx: UnitContext, prepared: "RetrievalData", trained) -> "RetrievalTest":
        from bench.images import embed_image_set

        recipe, settings = ctx.unit.submission.recipe, ctx.settings
        ds = prepared.ds
        with ctx.timed("evaluate"):
            test = ds.load(ctx.unit.subject, "test", repetitions="average", **prepared.load_kw)
            test_images = ds.images("test")
            test_emb = image_targets(embed_image_set(prepared.image_model, test_images, settings,
                                                     progress=ctx.progress), prepared.centre, recipe.normalise)
            gallery = (concept_centre_gallery(ds, test_images, prepared.image_model, prepared.centre,
                                              recipe.normalise, settings, ctx.progress)
                       if self.protocol.gallery == "concept-centre" else test_emb)
        return RetrievalTest(test, test_images, gallery, test_images.index_of(test.image_ids), int(test_emb.shape[1]))

    def score(self, ctx: UnitContext, prepared: "RetrievalData", trained, test: "RetrievalTest",
              label: str) -> Scored:
        from bench.metrics.retrieval import retrieval_scores, similarity

        p = self.protocol
        with ctx.timed("evaluate"):
            brain = brain_embeddings(trained.embed(test.data.signals, test.data.subjects),
                                     ctx.unit.submission.recipe.normalise)
            sim = similarity(brain, test.gallery, p.similarity)
            scores, items = retrieval_scores(sim, test.true_index, top_ks=p.top_k, k_ways=p.k_way,
                                             seed=ctx.unit.seed, item_ids=test.data.image_ids,
                                             sampled=p.k_way_sampled, batch_sizes=p.batch_retrieval)
        return Scored(scores, items)

    def finish(self, ctx: UnitContext, prepared, trained, test: "RetrievalTest", scored, metrics) -> None:
        from bench.metrics.retrieval import chance_levels

        p = self.protocol
        ctx.info.update({"n_test": int(len(test.data)), "n_gallery": int(len(test.images)),
                         "chance": chance_levels(len(test.images), p.top_k, p.k_way, p.batch_retrieval),
                         "gallery": p.gallery, "similarity": p.similarity, "embedding_dim": test.embedding_dim})


@dataclass
class RetrievalData:
    """What ``prepare`` read: the dataset, the image model, the targets' centre and the training sets."""

    ds: Any
    load_kw: dict
    image_model: Any
    centre: np.ndarray
    n_dims: int
    shape: dict
    train_set: Any
    val_set: Any


@dataclass
class RetrievalTest:
    """The test split: brain data, image set, gallery and each row's true gallery column."""

    data: Any
    images: Any
    gallery: np.ndarray
    true_index: np.ndarray
    embedding_dim: int
