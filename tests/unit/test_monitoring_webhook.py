"""Alert posts against a real local HTTP receiver (http.server in a thread): delivered,
retried on 503, given up on 400, on a refused connection and on a timeout — never raised."""

from __future__ import annotations

import pytest

from pipelines.monitoring.webhook import post_json
from tests.webhook_receiver import Receiver


@pytest.fixture()
def receiver(request):
    made = []

    def make(script=(), delay_s=0.0):
        made.append(Receiver(script, delay_s))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _post(url, **kw):
    waits = []
    kw = {"timeout_s": 2, "attempts": 3, "backoff_s": 0.5, "sleep": waits.append, **kw}
    return post_json(url, {"rule": "stream_lag", "value": 3}, **kw), waits


def test_posted_as_json(receiver):
    r = receiver()
    assert _post(r.url) == ("posted", [])
    assert r.bodies == [("application/json", {"rule": "stream_lag", "value": 3})]


def test_retried_on_503_with_doubling_backoff(receiver):
    r = receiver([503, 503])
    assert _post(r.url) == ("posted", [0.5, 1.0])
    assert len(r.bodies) == 3


def test_gives_up_after_the_attempts(receiver):
    r = receiver([503, 503, 503, 503])
    assert _post(r.url)[0] == "failed: HTTP 503"
    assert len(r.bodies) == 3


def test_a_client_error_is_not_retried(receiver):
    r = receiver([400])
    assert _post(r.url) == ("failed: HTTP 400", [])
    assert len(r.bodies) == 1


def test_refused_and_timed_out_posts_fail_without_raising(receiver):
    r = receiver()
    url = r.url
    r.close()  # nothing listens on that port any more
    status, waits = _post(url, attempts=2)
    assert status.startswith("failed: ConnectError") and waits == [0.5]
    slow = receiver(delay_s=0.5)
    assert _post(slow.url, timeout_s=0.1, attempts=1)[0].startswith("failed: ReadTimeout")
