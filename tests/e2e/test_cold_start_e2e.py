"""Cold start (issue 34): ``python app.py`` answers its page without waiting for transformers / diffusers, serves a
model-free API call, and then says its background warm-up resolved them (hub/build.py ``WARM_MARK``) — the run of
``python -m genmodels bench --only cold_start``, once, without the timing bar (that is the benchmark's, on an idle
machine; docs/benchmarks.md)."""
import math

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_page_answers_first_and_the_model_libraries_follow_in_the_background():
    from genmodels.bench.foundation import time_cold_start

    r = time_cold_start(timeout=400)
    assert 0 < r["page"] <= r["first_call"]
    assert math.isfinite(r["models_ready"]), "the server never printed that its warm-up was done"
    assert r["models_ready"] > r["page"]
