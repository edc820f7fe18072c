"""The model-load lock as a gate (loading.py ``run_holding_lock``): a job started on a background thread holding
``LOAD_LOCK`` makes every loader entered after the call wait until the job is done — the hub resolves transformers' /
diffusers' lazy classes this way after the page answers, and the first model load waits for it (issue 34)."""
import threading
import time

from genmodels.loading import LOAD_LOCK, run_holding_lock, serial_load


def test_a_loader_entered_after_the_call_waits_for_the_job():
    order = []

    def job():
        time.sleep(0.3)
        order.append("job")

    @serial_load
    def loader():
        order.append("loader")

    thread = run_holding_lock(job, "test-job")
    t0 = time.perf_counter()
    loader()
    waited = time.perf_counter() - t0
    thread.join(5)
    assert order == ["job", "loader"]
    assert waited > 0.2


def test_a_failing_job_is_logged_and_releases_the_lock(caplog):
    def job():
        raise RuntimeError("no such package")

    run_holding_lock(job, "test-failing-job").join(5)
    assert "test-failing-job failed: RuntimeError: no such package" in caplog.text
    assert LOAD_LOCK.acquire(blocking=False)
    LOAD_LOCK.release()


def test_a_busy_lock_does_not_block_the_caller_past_the_timeout(caplog):
    release, started = threading.Event(), threading.Event()

    def holder():
        with LOAD_LOCK:
            started.set()
            release.wait(5)

    other = threading.Thread(target=holder)
    other.start()
    started.wait(5)
    ran = threading.Event()
    t0 = time.perf_counter()
    thread = run_holding_lock(ran.set, "test-late-job", timeout_s=0.2)
    assert time.perf_counter() - t0 < 2
    assert "lock was busy" in caplog.text and not ran.is_set()
    release.set()
    other.join(5)
    thread.join(5)
    assert ran.is_set()
