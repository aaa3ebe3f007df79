"""Shared CLI helpers: URI redaction and strict JSON (null instead of NaN/Inf)."""

from __future__ import annotations

import json

import numpy as np

from bench.cli.common import redact_uri, strict_json


def test_redact_uri_hides_only_the_password():
    assert redact_uri("postgresql://ann:s3cret@db:5432/mlflow") == "postgresql://ann:***@db:5432/mlflow"
    assert redact_uri("sqlite:////tmp/x/mlflow.db") == "sqlite:////tmp/x/mlflow.db"
    assert redact_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_strict_json_turns_non_finite_numbers_into_null():
    value = {"a": float("nan"), "b": [1.5, float("inf"), np.float64("nan"), np.float32(2.0)], 3: (np.int64(4),)}
    text = json.dumps(strict_json(value), allow_nan=False)
    assert json.loads(text) == {"a": None, "b": [1.5, None, None, 2.0], "3": [4]}
