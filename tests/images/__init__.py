"""Tests of bench.images; ``fake_weights`` plants random-init weights for any test that needs them."""
