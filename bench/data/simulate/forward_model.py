"""A generative model of evoked brain responses to images, shared by the dataset simulators.

The model, in the order the signal is built (all randomness from one seed, so a simulated dataset
is a pure function of ``(seed, subject, item, repetition)``):

1. **Features.** Every image has a standardised feature vector ``F`` (``(items, n_features)``,
   about N(0, 1) per dimension), split in named groups (e.g. ``"low"``: colour, orientation,
   texture; ``"concept"``: factors shared by the images of one concept). The stimulus renderer
   (``stimuli.py``) draws each image *from* these features, so an image model can recover them.
2. **Sources.** ``n_sources`` latent sources, each with ERP-like components (Gaussian bumps at
   ~100, 170, 300 and 450 ms, see :data:`DEFAULT_COMPONENTS`). A component's amplitude on a source
   is ``base + W @ F``, where ``W`` reads only the feature groups that component listens to (the
   100 ms component sees low-level features, the late ones concept factors). ``W`` is a mix of a
   weight shared by all subjects and a subject-specific one (``subject_specificity``).
3. **Mixing.** Each subject has a fixed mixing matrix from sources to channels: dipole-like
   topographies (a positive and a negative Gaussian lobe on the unit sphere) at source locations
   jittered per subject, a subject gain (log-normal) and a small latency shift.
4. **Noise.** Independent per repetition: one background process under every sensor position with
   a 1/f power spectrum plus an alpha peak (~10 Hz, subject-specific frequency) on posterior
   positions, spread over the neighbouring channels by a subject-specific Gaussian kernel plus a
   local (per-channel) part, so the noise is spatially smooth *and* full rank (no channel
   combination is noise-free). Unit variance per channel on average over the full montage
   (``positions``; a ``pick``-ed subset keeps the same scale).
5. **SNR.** A trial is ``sqrt(snr) * gain * evoked + noise``. The evoked part is scaled so that at
   gain 1 its power, averaged over items, all channels and 0-1 s, is 1, of which a fixed
   ``informative_share`` (default 0.3) depends on the image and the rest is the common ERP:
   ``snr`` is the single-trial ratio of stimulus-evoked power to noise power, with the same
   meaning for every seed. Averaging ``r`` repetitions multiplies it by ``r``.

So decoding improves with SNR and with the number of repetitions averaged, is at chance with
shuffled labels, and transfers imperfectly between subjects (different mixing, gain, latency and
part of the feature weights). The same class serves EEG and MEG (channels with positions on a
sphere) and, with a single time sample and voxel "positions", fMRI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np

_WORKERS = max(1, min(4, os.cpu_count() or 1))  # FFT threads; results do not depend on it
NOISE_BATCH = 128  # trials of noise drawn at once; part of the random stream's definition


@dataclass(frozen=True)
class Component:
    """One ERP-like component: a Gaussian bump at ``latency`` s with s.d. ``width`` s.

    ``groups``: the feature groups whose values modulate its amplitude; ``base``: the mean
    (feature-independent) amplitude, with its sign (P1 positive, N170 negative, ...);
    ``modulation``: the standard deviation of the feature-driven part.
    """

    latency: float
    width: float
    groups: tuple[str, ...]
    base: float
    modulation: float


DEFAULT_COMPONENTS: tuple[Component, ...] = (
    Component(0.100, 0.022, ("low",), base=1.0, modulation=0.4),
    Component(0.170, 0.030, ("low", "concept"), base=-1.2, modulation=0.4),
    Component(0.300, 0.060, ("concept",), base=0.9, modulation=0.35),
    Component(0.450, 0.110, ("concept",), base=0.4, modulation=0.2),
)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@dataclass(frozen=True)
class SubjectModel:
    """Everything fixed for one subject: mixing, gain, latency shift, weights, noise spectra."""

    subject: int
    mixing: np.ndarray          # (picked channels, sources)
    gain: float
    latency_shift: float        # seconds
    weights: np.ndarray         # (sources, components, features)
    base: np.ndarray            # (sources, components)
    noise_mixing: np.ndarray    # (picked channels, noise processes = all positions)
    alpha_freq: float
    alpha_weights: tuple[float, ...]  # alpha power per noise process (posterior ones carry alpha)
    full_mixing: np.ndarray     # (all channels, sources), for the reference scale

    @property
    def noise_mixing32(self) -> np.ndarray:
        """``noise_mixing`` as float32 (computed once)."""
        cached = self.__dict__.get("_noise_mixing32")
        if cached is None:
            cached = np.ascontiguousarray(self.noise_mixing, dtype=np.float32)
            object.__setattr__(self, "_noise_mixing32", cached)
        return cached


class ForwardModel:
    """Features -> evoked responses -> noisy trials, for any number of subjects.

    Parameters
    ----------
    positions: (channels, 3) sensor positions (unit sphere for EEG/MEG; any 3-D layout works).
    feature_groups: group name -> column indices of the feature matrix.
    seed: the dataset seed; subject ``s`` derives its parameters from ``(seed, s)``.
    n_sources: latent sources driven by the features.
    components: the ERP components (see :class:`Component`).
    subject_specificity: 0 = every subject reads the features identically, 1 = independently.
    alpha_power: power of the alpha peak relative to the 1/f part on the most posterior noise processes.
    local_fraction: share of the noise variance that is local to each channel (not spatially smeared).
    source_centre: mean direction of the driven sources (posterior-superior for visual EEG).
    pick: indices of the channels to output (default all). The model is built on all
        ``positions`` and then restricted, so a channel subset sees the same brains.
    informative_share: share of the evoked power that depends on the image (the rest is the
        common ERP every image evokes).
    """

    def __init__(self, positions: np.ndarray, feature_groups: Mapping[str, Sequence[int]], seed: int, *,
                 n_sources: int = 16, components: Sequence[Component] = DEFAULT_COMPONENTS,
                 subject_specificity: float = 0.35, alpha_power: float = 3.0,
                 local_fraction: float = 0.2, source_centre: Sequence[float] = (0.0, -0.8, 0.35),
                 pick: Sequence[int] | None = None, informative_share: float = 0.3) -> None:
        self.positions = _unit(np.asarray(positions, dtype=np.float64))
        self.pick = np.arange(len(self.positions)) if pick is None else np.asarray(pick, dtype=np.int64)
        self.feature_groups = {k: np.asarray(v, dtype=np.int64) for k, v in feature_groups.items()}
        self.n_features = int(max(int(v.max()) for v in self.feature_groups.values()) + 1)
        self.seed = int(seed)
        self.n_sources = n_sources
        self.components = tuple(components)
        self.subject_specificity = subject_specificity
        self.alpha_power = alpha_power
        self.local_fraction = local_fraction
        self.source_centre = np.asarray(source_centre, dtype=np.float64)
        self.informative_share = float(informative_share)
        self._subjects: dict[int, SubjectModel] = {}
        self._shared = self._shared_parameters()
        self._scales: tuple[float, float] | None = None

    @property
    def n_channels(self) -> int:
        return len(self.pick)

    # -- parameters -----------------------------------------------------------------------------

    def _rng(self, *keys: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 0x5EED, *keys])

    def _masks(self) -> np.ndarray:
        """(components, features) 1 where a component listens to a feature."""
        mask = np.zeros((len(self.components), self.n_features))
        for k, comp in enumerate(self.components):
            for g in comp.groups:
                mask[k, self.feature_groups[g]] = 1.0
        return mask

    def _shared_parameters(self) -> dict[str, np.ndarray]:
        rng = self._rng(0)
        locs = _unit(self.source_centre + 0.45 * rng.standard_normal((self.n_sources, 3)))
        mask = self._masks()
        n_read = mask.sum(axis=1, keepdims=True).clip(min=1)
        w = rng.standard_normal((self.n_sources, len(self.components), self.n_features)) * mask
        w *= np.array([c.modulation for c in self.components])[None, :, None] / np.sqrt(n_read)[None]
        base = np.array([c.base for c in self.components])[None, :] * rng.uniform(0.5, 1.5, (self.n_sources, 1))
        widths = rng.uniform(0.35, 0.6, self.n_sources)
        lobe = _unit(rng.standard_normal((self.n_sources, 3)))      # direction of the negative lobe
        polarity = rng.choice([-1.0, 1.0], self.n_sources)
        return {"locs": locs, "weights": w, "base": base, "widths": widths, "lobe": lobe, "polarity": polarity}

    def subject(self, subject: int) -> SubjectModel:
        """The fixed parameters of ``subject`` (cached)."""
        if subject in self._subjects:
            return self._subjects[subject]
        rng = self._rng(1, subject)
        shared = self._shared
        locs = _unit(shared["locs"] + 0.15 * rng.standard_normal(shared["locs"].shape))
        widths = shared["widths"] * rng.uniform(0.85, 1.15, self.n_sources)
        mixing = self._topographies(locs, widths, shared["lobe"], shared["polarity"])
        mixing /= np.sqrt((mixing ** 2).sum(axis=0).mean())  # unit column norm on average
        rho = self.subject_specificity
        own = rng.standard_normal(shared["weights"].shape) * (shared["weights"] != 0)
        own *= np.array([c.modulation for c in self.components])[None, :, None]
        own /= np.sqrt(self._masks().sum(axis=1).clip(min=1))[None, :, None]
        weights = np.sqrt(1 - rho) * shared["weights"] + np.sqrt(rho) * own
        gain = float(np.exp(np.clip(0.2 * rng.standard_normal(), -0.45, 0.45)))
        shift = float(np.clip(0.008 * rng.standard_normal(), -0.02, 0.02))
        # noise: one coloured process under every position, smeared by a spatial kernel (full rank)
        width = rng.uniform(0.3, 0.45)
        dist = np.linalg.norm(self.positions[:, None] - self.positions[None], axis=-1)
        kernel = np.exp(-dist ** 2 / (2 * width ** 2))
        kernel /= np.linalg.norm(kernel, axis=1, keepdims=True)
        noise_mixing = np.sqrt(1 - self.local_fraction) * kernel + np.sqrt(self.local_fraction) * np.eye(len(dist))
        noise_mixing /= np.sqrt((noise_mixing ** 2).sum(axis=1).mean())
        posterior = 1 / (1 + np.exp((self.positions[:, 1] + 0.4) / 0.12))
        alpha_weights = tuple(float(a) for a in np.round(self.alpha_power * posterior * rng.uniform(0.5, 1.5), 6))
        model = SubjectModel(subject, mixing[self.pick], gain, shift, weights, shared["base"], noise_mixing[self.pick],
                             float(np.round(rng.normal(10.0, 0.8), 6)), alpha_weights, mixing)
        self._subjects[subject] = model
        return model

    def _topographies(self, locs: np.ndarray, widths: np.ndarray, lobe: np.ndarray,
                      polarity: np.ndarray) -> np.ndarray:
        """(channels, len(locs)) dipole-like patterns: a positive and a displaced negative lobe."""
        other = _unit(locs + 0.9 * lobe)
        d_pos = np.linalg.norm(self.positions[:, None, :] - locs[None], axis=-1)
        d_neg = np.linalg.norm(self.positions[:, None, :] - other[None], axis=-1)
        pattern = np.exp(-d_pos ** 2 / (2 * widths ** 2)) - 0.6 * np.exp(-d_neg ** 2 / (2 * widths ** 2))
        pattern -= pattern.mean(axis=0, keepdims=True)  # average reference
        return pattern * polarity

    # -- signals --------------------------------------------------------------------------------

    def _waveforms(self, times: np.ndarray, shift: float) -> np.ndarray:
        """(components, times) Gaussian bumps, zero before stimulus onset."""
        t = np.asarray(times, dtype=np.float64)[None, :] - shift
        lat = np.array([c.latency for c in self.components])[:, None]
        wid = np.array([c.width for c in self.components])[:, None]
        return np.exp(-0.5 * ((t - lat) / wid) ** 2) * (t > 0)

    def _raw_evoked(self, features: np.ndarray | None, sub: SubjectModel, times: np.ndarray,
                    all_channels: bool = False) -> np.ndarray:
        """Unscaled response: the common ERP (``features=None``) or the feature-driven part."""
        if features is None:
            amp = sub.base[None]                                                  # (1, S, K)
        else:
            amp = np.einsum("skf,nf->nsk", sub.weights, np.asarray(features, dtype=np.float64))
        sources = amp @ self._waveforms(times, sub.latency_shift)                 # (n, S, T)
        return np.matmul(sub.full_mixing if all_channels else sub.mixing, sources)

    def _reference_scales(self) -> tuple[float, float]:
        """Scales of the common ERP and of the feature-driven part, fixed per seed.

        Chosen so that, at gain 1 and averaged over 0-1 s, all channels and N(0, 1) features, the
        feature-driven part has power ``informative_share`` and the common ERP the rest (the two
        are uncorrelated, so the evoked power is 1): the SNR means the same for every seed.
        """
        if self._scales is None:
            feats = self._rng(2).standard_normal((256, self.n_features))
            times = np.arange(0, 1.0, 0.002)
            refs = [self.subject(1_000_000 + k) for k in range(2)]
            p_base = np.mean([np.mean(self._raw_evoked(None, r, times, True) ** 2) for r in refs])
            p_mod = np.mean([np.mean(self._raw_evoked(feats, r, times, True) ** 2) for r in refs])
            q = self.informative_share
            self._scales = (float(np.sqrt((1 - q) / p_base)), float(np.sqrt(q / p_mod)))
        return self._scales

    def evoked(self, features: np.ndarray, subject: int, times: np.ndarray) -> np.ndarray:
        """Noise-free response (items, channels, times) at unit power and gain 1 (no SNR applied)."""
        sub = self.subject(subject)
        s_base, s_mod = self._reference_scales()
        out = self._raw_evoked(features, sub, times) * s_mod
        out += self._raw_evoked(None, sub, times) * s_base
        return out

    def noise(self, n_trials: int, subject: int, times: np.ndarray, rng: np.random.Generator,
              sfreq: float | None = None) -> np.ndarray:
        """(n_trials, channels, times) float32 coloured noise, unit variance per channel on average."""
        sub = self.subject(subject)
        times = np.asarray(times, dtype=np.float64)
        n_t = len(times)
        n_proc = sub.noise_mixing.shape[1]
        if n_t == 1:
            src = _white((n_trials, n_proc, 1), rng)
        else:
            import scipy.fft as sfft

            if sfreq is None:
                sfreq = 1.0 / float(np.median(np.diff(times)))
            # generate a longer epoch and crop it, so the FFT's circular wrap-around is not visible
            n_fft = sfft.next_fast_len(int(np.ceil(1.25 * n_t)), real=True)
            spectrum = self._noise_spectrum(sub, n_fft, sfreq).astype(np.float32)   # (Nn, F)
            spec = sfft.rfft(_white((n_trials, n_proc, n_fft), rng), axis=-1, workers=_WORKERS)
            spec *= spectrum[None]
            src = sfft.irfft(spec, n=n_fft, axis=-1, workers=_WORKERS)[..., :n_t]
        return np.matmul(sub.noise_mixing32, src)                                    # (n, C, T)

    def _noise_spectrum(self, sub: SubjectModel, n_fft: int, sfreq: float) -> np.ndarray:
        return _noise_spectrum(n_fft, float(sfreq), sub.alpha_freq, sub.alpha_weights)

    def trials(self, features: np.ndarray, subject: int, times: np.ndarray, n_reps: int, snr: float,
               rng: np.random.Generator, sfreq: float | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """(items, n_reps, channels, times) float64 single trials: ``sqrt(snr)*gain*evoked + noise``.

        The noise is drawn from ``rng`` in batches of about :data:`NOISE_BATCH` trials (whole items
        at a time), so the result depends only on ``rng``, the items and ``n_reps``. Batches keep
        every temporary small (the allocator reuses them instead of faulting in fresh pages).
        ``out``: optional float64 buffer of the result's shape, filled and returned.
        """
        n = len(features)
        signal = self.evoked(features, subject, times) * (np.sqrt(snr) * self.subject(subject).gain)
        shape = (n, n_reps, self.n_channels, len(times))
        if out is None:
            out = np.empty(shape, dtype=np.float64)
        elif out.shape != shape or out.dtype != np.float64:
            raise ValueError(f"out must be float64 {shape}, got {out.dtype} {out.shape}")
        step = max(1, NOISE_BATCH // max(n_reps, 1))
        for i0 in range(0, n, step):
            i1 = min(n, i0 + step)
            noise = self.noise((i1 - i0) * n_reps, subject, times, rng, sfreq)
            np.add(noise.reshape(i1 - i0, n_reps, *noise.shape[1:]), signal[i0:i1, None], out=out[i0:i1])
        return out


_SQRT12 = np.float32(np.sqrt(12.0))


def _white(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Zero-mean unit-variance white float32 noise.

    Uniform, not Gaussian: it is 5x cheaper to draw, and after spectral shaping (a sum over
    hundreds of samples) and mixing with the coloured sources the noise is Gaussian to a close
    approximation.
    """
    u = rng.random(shape, dtype=np.float32)
    u -= np.float32(0.5)
    u *= _SQRT12
    return u


@lru_cache(maxsize=32)
def _noise_spectrum(n_fft: int, sfreq: float, alpha_freq: float, alpha_weights: tuple[float, ...]) -> np.ndarray:
    """Amplitude filters (noise sources, rfft bins) giving unit-variance 1/f (+ alpha) noise."""
    f = np.fft.rfftfreq(n_fft, 1.0 / sfreq)
    pink = 1.0 / (f + 1.0)                                      # power ~ 1/f above 1 Hz
    alpha = np.exp(-0.5 * ((f - alpha_freq) / 1.2) ** 2)
    pink_var = pink.mean()
    filters = []
    for weight in alpha_weights:
        power = pink / pink_var + weight * alpha / max(alpha.mean(), 1e-12)
        weights = np.full(len(f), 2.0)
        weights[0] = 1.0
        if n_fft % 2 == 0:
            weights[-1] = 1.0
        variance = (weights * power).sum() / n_fft                  # of irfft(rfft(white) * sqrt(power))
        filters.append(np.sqrt(power / variance))
    return np.array(filters)
