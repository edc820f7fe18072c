"""The load test of ``python -m genmodels bench --only load`` (genmodels/bench/load.py) with small numbers against
the e2e app: concurrent gradio_client clients sending the mixed requests are all served, and the worker still
serves a normal request afterwards; latencies come per family and per queue lane. The full 8 × 10 run and its latency
/ memory numbers are in docs/benchmarks.md."""
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_concurrent_mixed_requests_are_all_served(app_url):
    from genmodels.bench.load import load_test

    r = load_test(clients=4, per_client=3, url=app_url, timeout_s=240)
    assert r["requests"] == 12
    assert r["success_rate"] == 1.0, r["errors"]
    assert r["served_after"]
    assert r["p95_s"] >= r["p50_s"] > 0
    assert sum(g["n"] for g in r["by_family"].values()) == 12  # reported per family (issue 34) ...
    assert sum(g["n"] for g in r["by_lane"].values()) == 12  # ... and per queue lane
    assert all(ok for ok, _, _ in r["first_calls"].values()), r["first_calls"]  # the warm-up calls were served
