"""Where every dataset is published: ONE table (:data:`SOURCES`), with the provenance of each entry.

Each :class:`Source` is a (dataset, variant) pair: the remote files (:class:`Item`) and where they
land under ``<data_root>/<dataset>/`` in the layout the loader reads (``bench/data/<dataset>.py``),
or a manual step (:class:`Manual`) where a licence or credentials stand between us and the files.

**Checksums are never typed in here.** Where the host publishes them, they are read from the host's
own file API at download time (OSF: ``attributes.extra.hashes.sha256``; Hugging Face: the LFS
``oid``, a SHA-256, of its tree API; figshare: ``computed_md5``). Where no checksum is published
(non-LFS Hugging Face files, plain URLs), the size and SHA-256 of the first download are recorded in
the dataset folder's manifest (``.bench-download.json``) and every later download and check is held
to them. ``PROVENANCE`` says where each address was found (looked up 2026-12-02).

Remote kinds (resolved by :mod:`bench.download.resolve`):

- :class:`OSFFile`      a file of an OSF project's ``osfstorage`` (listing: ``api.osf.io/v2/nodes/<node>/files/osfstorage/``)
- :class:`HFFile`       a file of a Hugging Face repo (``huggingface.co/<datasets/>repo/resolve/<rev>/<path>``;
                        listing ``huggingface.co/api/<datasets|models>/<repo>/tree/<rev>/<folder>``)
- :class:`FigshareFile` a file of a figshare article (listing ``api.figshare.com/v2/articles/<id>/files``)
- :class:`URLFile`      a plain address (no listing; checksum recorded on first download)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

from bench.errors import ConfigError

# ---------------------------------------------------------------------------------------- remotes


@dataclass(frozen=True)
class OSFFile:
    """``path`` (e.g. ``"sub-01.zip"`` or ``"folder/x.zip"``) in OSF project ``node``'s osfstorage."""

    node: str
    path: str

    @property
    def listing_url(self) -> str:
        return f"https://api.osf.io/v2/nodes/{self.node}/files/osfstorage/"

    @property
    def page(self) -> str:
        return f"https://osf.io/{self.node}/files/osfstorage"


@dataclass(frozen=True)
class HFFile:
    """``path`` in the Hugging Face repo ``repo`` (``repo_type`` "dataset" or "model") at ``revision``."""

    repo: str
    path: str
    revision: str = "main"
    repo_type: str = "dataset"

    @property
    def _prefix(self) -> str:
        return "datasets/" if self.repo_type == "dataset" else ""

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self._prefix}{self.repo}/resolve/{self.revision}/{self.path}"

    @property
    def listing_url(self) -> str:
        folder = self.path.rsplit("/", 1)[0] if "/" in self.path else ""
        kind = "datasets" if self.repo_type == "dataset" else "models"
        return f"https://huggingface.co/api/{kind}/{self.repo}/tree/{self.revision}" + (f"/{folder}" if folder else "")

    @property
    def page(self) -> str:
        return f"https://huggingface.co/{self._prefix}{self.repo}/tree/{self.revision}"


@dataclass(frozen=True)
class FigshareFile:
    """File ``name`` (id ``file_id``) of figshare article ``article``."""

    article: int
    name: str
    file_id: int

    @property
    def listing_url(self) -> str:
        return f"https://api.figshare.com/v2/articles/{self.article}/files"

    @property
    def page(self) -> str:
        return f"https://plus.figshare.com/articles/dataset/{self.article}"


@dataclass(frozen=True)
class URLFile:
    """A plain address; no published checksum (recorded on first download)."""

    url: str

    @property
    def page(self) -> str:
        return self.url


Remote = Union[OSFFile, HFFile, FigshareFile, URLFile]

# ---------------------------------------------------------------------------------------- items


@dataclass(frozen=True)
class Unpack:
    """How an archive is unpacked under the dataset root (then the archive is deleted).

    into:    folder under the dataset root that receives the members ("" = the root).
    top:     the archive's content must end up at ``into/top/``: members already under ``top/`` are
             kept as they are, an archive without that top folder gets it added.
    pattern: regex on member *file names*: only matching files are kept, written flat into ``into``
             (for archives whose inner folders are not the loader's layout).
    """

    into: str = ""
    top: str | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class Item:
    """One remote file and where it goes: saved as ``dest`` (relative to the dataset root), unpacked
    when ``unpack`` is set. ``subject`` ties it to ``--subjects``; ``expect`` lists files (relative to
    the root) that exist once the item is in place (used to tell "already there")."""

    remote: Remote
    dest: str
    unpack: Unpack | None = None
    subject: int | None = None
    expect: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manual:
    """A step the user does by hand (licence, password, data agreement): the exact instructions and
    the files (relative to the dataset root, ``*`` globs allowed) the harness checks afterwards."""

    title: str
    instructions: str
    required: tuple[str, ...]


@dataclass(frozen=True)
class Source:
    """Everything needed to put ``dataset`` (``variant``) under ``<data_root>/<dataset>/``.

    items(subjects) -> the remote files for those subjects; ``subjects`` = the published ones.
    terms: when set, the download needs ``--accept-terms`` (the text says which terms and where).
    manual: steps done by hand (after the downloads, if any), then verified.
    """

    dataset: str
    variant: str
    title: str
    subjects: tuple[int, ...]
    items: Callable[[Sequence[int]], list[Item]]
    provenance: str
    terms: str | None = None
    manual: tuple[Manual, ...] = ()
    info_variant: str | None = None   # variant name given to ``bench data info`` (None: detected)
    default: bool = False
    describe: bool = True             # end with ``bench data info`` (False: the loader needs more than this)

    def select(self, subjects: Sequence[int] | None) -> list[Item]:
        chosen = list(self.subjects) if not subjects else [int(s) for s in subjects]
        bad = [s for s in chosen if s not in self.subjects]
        if bad:
            raise ConfigError(f"{self.dataset} ({self.variant}) has no subject(s) {bad}", field="--subjects",
                              fix=f"choose among {list(self.subjects)}")
        return self.items(chosen)


# ---------------------------------------------------------------------------------------- THINGS-EEG2
THINGS_EEG2_IMAGES_NODE = "y63gw"     # "Image set" component of the THINGS-EEG2 project osf.io/3jk45
THINGS_EEG2_PREPROC_NODE = "anp5v"    # "Preprocessed EEG data" component of osf.io/3jk45
ATM_250HZ_REPO = "LidongYang/EEG_Image_decode"


def _things_eeg2_images(_: Sequence[int] = ()) -> list[Item]:
    return [
        Item(OSFFile(THINGS_EEG2_IMAGES_NODE, "training_images.zip"), "training_images.zip",
             unpack=Unpack(top="training_images"), expect=("training_images",)),
        Item(OSFFile(THINGS_EEG2_IMAGES_NODE, "test_images.zip"), "test_images.zip",
             unpack=Unpack(top="test_images"), expect=("test_images",)),
        Item(OSFFile(THINGS_EEG2_IMAGES_NODE, "image_metadata.npy"), "image_metadata.npy"),
    ]


def _things_eeg2_250hz(subjects: Sequence[int]) -> list[Item]:
    items = []
    for s in subjects:
        for name in ("preprocessed_eeg_training.npy", "preprocessed_eeg_test.npy"):
            rel = f"Preprocessed_data_250Hz/sub-{s:02d}/{name}"
            items.append(Item(HFFile(ATM_250HZ_REPO, rel), rel, subject=s))
    return items + _things_eeg2_images()


def _things_eeg2_100hz(subjects: Sequence[int]) -> list[Item]:
    items = [Item(OSFFile(THINGS_EEG2_PREPROC_NODE, f"sub-{s:02d}.zip"), f"preprocessed_data/sub-{s:02d}.zip",
                  unpack=Unpack(into="preprocessed_data", top=f"sub-{s:02d}"), subject=s,
                  expect=(f"preprocessed_data/sub-{s:02d}/preprocessed_eeg_training.npy",
                          f"preprocessed_data/sub-{s:02d}/preprocessed_eeg_test.npy"))
             for s in subjects]
    return items + _things_eeg2_images()


# ---------------------------------------------------------------------------------------- THINGS-MEG
THINGS_MEG_ARTICLE = 21215246          # "THINGS-data: MEG preprocessed dataset" (plus.figshare.com)
THINGS_MEG_FILE_ID = 39472855          # THINGS-MEG_preproc.tar.gz in that article


def _things_meg(_: Sequence[int]) -> list[Item]:
    # one tarball holds all four participants; only the epochs files are kept, flat in the root
    return [Item(FigshareFile(THINGS_MEG_ARTICLE, "THINGS-MEG_preproc.tar.gz", THINGS_MEG_FILE_ID),
                 "THINGS-MEG_preproc.tar.gz", unpack=Unpack(pattern=r"preprocessed_P\d+-epo(-\d+)?\.fif"),
                 expect=tuple(f"preprocessed_P{s}-epo.fif" for s in (1, 2, 3, 4)))]


THINGS_IMAGES_MANUAL = Manual(
    title="THINGS images (password-protected; THINGS licence)",
    instructions=(
        "The THINGS images are distributed as password-protected zips (the password is given on the\n"
        "download page itself, after its terms of use) at https://osf.io/jum2f/ (THINGS object images).\n"
        "  1. read and accept the terms there, note the password;\n"
        "  2. unzip the object images (unzip -P <password> object_images_*.zip);\n"
        "  3. place each image the MEG metadata names (column image_path of every epochs file) at\n"
        "     {root}/<image_path>, i.e. {root}/images_meg/<concept>/<file>.jpg and\n"
        "     {root}/images_test_meg/<file>.jpg (the THINGS-data release's stimulus folders);\n"
        "  4. re-run `bench data download things-meg --data-root {data_root}`: it checks them."),
    required=("images_meg/*/*.jpg", "images_test_meg/*.jpg"),
)

# ---------------------------------------------------------------------------------------- ImageNet-EEG
IMAGENET_EEG_MANUAL = Manual(
    title="ImageNet-EEG files (Google Drive folder; no direct file addresses published)",
    instructions=(
        "The PeRCeiVe Lab publishes the files as a Google Drive folder behind\n"
        "https://tinyurl.com/eeg-visual-classification (github.com/perceivelab/eeg_visual_classification):\n"
        "  1. download eeg_5_95_std.pth (and any of eeg_14_70_std.pth, eeg_55_95_std.pth,\n"
        "     eeg_signals_raw_with_mean_std.pth) and block_splits_by_image_all.pth,\n"
        "     block_splits_by_image_single.pth into {root}/;\n"
        "  2. the 2,000 stimuli are ImageNet images (ImageNet terms of access, image-net.org): put each\n"
        "     image named in the file's 'images' list at {root}/images/<wnid>/<stem>.JPEG;\n"
        "  3. (saliency task) fixations at {root}/fixations/fixations.csv or fixations/maps/<stem>.png;\n"
        "  4. re-run `bench data download imagenet-eeg --data-root {data_root}`: it checks them.\n"
        "A lab mirror serving the files at <mirror>/imagenet-eeg/<file> can be used instead:\n"
        "  curl -C - -O <mirror>/imagenet-eeg/eeg_5_95_std.pth   (then verify with bench data info)"),
    required=("eeg_*_std.pth", "block_splits_by_image_all.pth", "images/*/*"),
)

# ---------------------------------------------------------------------------------------- NSD
MINDEYE2_REPO = "pscotti/mindeyev2"
NSD_BUCKET = "https://natural-scenes-dataset.s3-us-east-2.amazonaws.com"
NSD_TERMS = (
    "NSD is shared under the Natural Scenes Dataset Terms and Conditions: fill in the data access\n"
    "agreement at https://naturalscenesdataset.org (\"Get the data\") before downloading. The MindEye2\n"
    "files (huggingface.co/datasets/pscotti/mindeyev2) are derived from NSD and fall under the same terms.\n"
    "Once you have agreed, re-run with --accept-terms nsd.")


def _nsd(subjects: Sequence[int]) -> list[Item]:
    items = []
    for s in subjects:
        name = f"betas_all_subj{s:02d}_fp32_renorm.hdf5"
        items.append(Item(HFFile(MINDEYE2_REPO, name), name, subject=s))
        rel = f"nsddata/ppdata/subj{s:02d}/behav/responses.tsv"
        items.append(Item(URLFile(f"{NSD_BUCKET}/{rel}"), rel, subject=s))
    items.append(Item(HFFile(MINDEYE2_REPO, "shared1000.npy"), "shared1000.npy"))
    items.append(Item(HFFile(MINDEYE2_REPO, "coco_images_224_float16.hdf5"), "coco_images_224_float16.hdf5"))
    return items


# ---------------------------------------------------------------------------------------- the table
PROVENANCE: dict[str, str] = {
    "things-eeg2/osf": (
        "THINGS-EEG2 OSF project osf.io/3jk45 (Gifford et al. 2022); components anp5v = preprocessed EEG "
        "(one sub-XX.zip per subject: e.g. the thingseeg2 reconstruction repos' `wget .../resources/anp5v/"
        "providers/osfstorage/?zip=` then `unzip sub-$i.zip`) and y63gw = image set (training_images.zip, "
        "test_images.zip, image_metadata.npy, LICENSE.txt: the things_eeg2_dataset PyPI package, "
        "ZEISS/things_eeg2_dataset downloader.py, downloads exactly these from OSF y63gw). Checksums: "
        "OSF's API publishes sha256 per file; read at download time."),
    "things-eeg2/250hz": (
        "250 Hz / 63-channel files of NICE/ATM/AlignVis: the ATM README (ncclab-sustech/EEG_Image_decode) "
        "links huggingface.co/datasets/LidongYang/EEG_Image_decode, folder Preprocessed_data_250Hz/sub-XX/"
        "preprocessed_eeg_{training,test}.npy (LFS; 8.34 GB / 2.02 GB for sub-02 on its tree page). "
        "Checksums: the LFS sha256 of HF's tree API, read at download time."),
    "things-meg": (
        "THINGS-data MEG preprocessed dataset, figshare article 21215246 (Hebart et al. 2023), file "
        "THINGS-MEG_preproc.tar.gz id 39472855 (download scripts: `wget https://plus.figshare.com/"
        "ndownloader/files/39472855`; bonner-datasets FILE_ID_DICT). Epochs preprocessed_P{1..4}-epo.fif "
        "(Teichmann's preprocessing script names). Same files: OpenNeuro ds004212 derivatives/preprocessed/. "
        "Checksum: figshare's API computed_md5, read at download time. Images: THINGS database osf.io/jum2f "
        "(password on its page)."),
    "imagenet-eeg": (
        "github.com/perceivelab/eeg_visual_classification README: 'Link to dataset files: "
        "https://tinyurl.com/eeg-visual-classification' (a Google Drive folder; no per-file addresses or "
        "checksums published)."),
    "nsd": (
        "MindEye2 release huggingface.co/datasets/pscotti/mindeyev2, top-level files betas_all_subj01_fp32_renorm"
        ".hdf5, coco_images_224_float16.hdf5, shared1000.npy (MindEye2 README: hf_hub_download(repo_id="
        "'pscotti/mindeyev2', filename=..., repo_type='dataset'); the names bench/data/nsd.py reads). NSD "
        "behaviour tables from NSD's public bucket (https://natural-scenes-dataset.s3-us-east-2.amazonaws.com/"
        "nsddata/..., the address form NSD users fetch nsd_expdesign.mat from) at nsddata/ppdata/subjXX/behav/"
        "responses.tsv: no checksum published, recorded on first download. Terms: naturalscenesdataset.org "
        "data access agreement."),
}

SOURCES: tuple[Source, ...] = (
    Source("things-eeg2", "250hz", "THINGS-EEG2, 250 Hz / 63 channels (NICE, ATM, AlignVis) + images",
           tuple(range(1, 11)), _things_eeg2_250hz,
           PROVENANCE["things-eeg2/250hz"] + " " + PROVENANCE["things-eeg2/osf"], info_variant="250hz",
           default=True),
    Source("things-eeg2", "100hz", "THINGS-EEG2, official OSF 100 Hz / 17 channels + images",
           tuple(range(1, 11)), _things_eeg2_100hz, PROVENANCE["things-eeg2/osf"], info_variant="100hz"),
    Source("things-eeg2", "images", "THINGS-EEG2 training and test images only", tuple(range(1, 11)),
           _things_eeg2_images, PROVENANCE["things-eeg2/osf"], describe=False),
    Source("things-meg", "preprocessed", "THINGS-MEG preprocessed epochs (+ THINGS images by hand)",
           (1, 2, 3, 4), _things_meg, PROVENANCE["things-meg"], manual=(THINGS_IMAGES_MANUAL,), default=True),
    Source("imagenet-eeg", "published", "ImageNet-EEG (Spampinato et al. 2017), by hand",
           tuple(range(1, 7)), lambda _: [], PROVENANCE["imagenet-eeg"], manual=(IMAGENET_EEG_MANUAL,),
           default=True),
    Source("nsd", "mindeye2", "NSD betas (MindEye2 files) + behaviour tables; needs the NSD agreement",
           (1, 2, 3, 4, 5, 6, 7, 8), _nsd, PROVENANCE["nsd"], terms=NSD_TERMS, default=True),
)


def find_source(dataset: str, variant: str | None = None) -> Source:
    """The table entry for ``dataset`` (aliases as the loaders accept them) and ``variant``."""
    name = dataset.lower().replace("_", "-")
    name = {"thingseeg2": "things-eeg2", "thingsmeg": "things-meg", "spampinato": "imagenet-eeg",
            "nsd-fmri": "nsd"}.get(name, name)
    candidates = [s for s in SOURCES if s.dataset == name]
    if not candidates:
        raise ConfigError(f"no download source for dataset '{dataset}'", field="DATASET",
                          fix=f"use one of {sorted({s.dataset for s in SOURCES})}")
    if variant is None:
        return next(s for s in candidates if s.default)
    v = variant.lower()
    for s in candidates:
        if s.variant == v:
            return s
    raise ConfigError(f"{name} has no variant '{variant}'", field="--variant",
                      fix=f"use one of {[s.variant for s in candidates]}")


__all__ = ["SOURCES", "PROVENANCE", "Source", "Item", "Unpack", "Manual", "OSFFile", "HFFile", "FigshareFile",
           "URLFile", "Remote", "find_source"]
