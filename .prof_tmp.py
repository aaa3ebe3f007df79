import numpy as np, time, cProfile, pstats
from bench.data.simulate.things_eeg2 import ThingsEEG2Simulation
from bench.data.simulate import stimuli
from bench.images.offline import _shape_descriptors
sim = ThingsEEG2Simulation("tiny", 0)
imgs = [stimuli.render(f, 64).astype(np.float32)/255 for f in sim.features("train")[:200]]
cProfile.run("[_shape_descriptors(i) for i in imgs]", "/tmp/prof")
pstats.Stats("/tmp/prof").sort_stats("tottime").print_stats(12)
