from __future__ import annotations

import asyncio
import queue
import threading

import pytest

from studio.jobs import EventBus, EventType, JobEvent


def _event(kind: EventType, job: str = "j") -> JobEvent:
    return JobEvent(type=kind, job_id=job, kind="generate")


def test_every_subscriber_gets_every_event_in_order_and_a_failing_one_does_not_stop_the_others() -> None:
    bus = EventBus()
    seen_a: list[int] = []
    seen_b: list[int] = []

    def broken(event: JobEvent) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    token = bus.subscribe(lambda e: seen_a.append(e.seq))
    bus.subscribe(lambda e: seen_b.append(e.seq))
    for _ in range(3):
        bus.publish(_event(EventType.STEP))
    bus.unsubscribe(token)
    bus.publish(_event(EventType.DONE))
    assert seen_a == [1, 2, 3] and seen_b == [1, 2, 3, 4]


def test_thread_subscription_filters_by_job_and_drops_steps_before_state_events() -> None:
    bus = EventBus()
    with bus.thread_subscription("a", maxsize=3) as sub:
        bus.publish(_event(EventType.STARTED, "a"))
        bus.publish(_event(EventType.STEP, "b"))
        for _ in range(5):
            bus.publish(_event(EventType.STEP, "a"))
        bus.publish(_event(EventType.DONE, "a"))
        kinds = [sub.get(timeout=1).type for _ in range(3)]
        assert kinds == [EventType.STARTED, EventType.STEP, EventType.DONE]
        with pytest.raises(queue.Empty):
            sub.get(timeout=0.05)
    assert bus.subscriber_count == 0


def test_async_subscription_receives_events_published_from_other_threads() -> None:
    bus = EventBus()

    async def consume() -> list[str]:
        got = []
        async with bus.async_subscription() as sub:
            threads = [
                threading.Thread(target=bus.publish, args=(_event(EventType.STEP, str(i)),))
                for i in range(20)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for _ in range(20):
                got.append((await sub.get(timeout=2)).job_id)
            with pytest.raises(TimeoutError):
                await sub.get(timeout=0.05)
        return got

    got = asyncio.run(consume())
    assert sorted(got, key=int) == [str(i) for i in range(20)]
    assert bus.subscriber_count == 0


def test_event_json_carries_preview_as_base64() -> None:
    event = JobEvent(type=EventType.STEP, job_id="j", kind="generate", data={"step": 2}, preview=b"\x89PNG")
    data = event.to_json()
    assert data["type"] == "step" and data["step"] == 2 and data["preview"] == "iVBORw=="
    assert "result" not in data
