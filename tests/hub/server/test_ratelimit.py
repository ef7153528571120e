from hub.server.ratelimit import RateLimiter


def test_token_bucket_refills_and_reports_retry_after() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.take("a")[0] for _ in range(60))
    allowed, _, retry_after = limiter.take("a")
    assert not allowed and retry_after == 1
    assert limiter.take("b")[0]  # other clients keep their own bucket
    now[0] += 1.0
    assert limiter.take("a")[0] and not limiter.take("a")[0]
