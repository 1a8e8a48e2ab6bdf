"""DynamicBatcher: merging, order, isolation of failures, bounds, timeouts, draining on close."""

from __future__ import annotations

import asyncio

import pytest

from rewardmine.server.batcher import Closed, DynamicBatcher, QueueFull


def run(coro):
    return asyncio.run(coro)


def test_merges_concurrent_requests_and_keeps_order():
    calls: list[list[int]] = []

    def square(items):
        calls.append(list(items))
        return [x * x for x in items]

    async def main():
        batcher = DynamicBatcher(square, max_batch_size=8, max_wait_s=0.05)
        await batcher.start()
        requests = [[k, k + 100] for k in range(4)] + [list(range(10))]
        results = await asyncio.gather(*(batcher.submit(r) for r in requests))
        await batcher.close()
        return requests, results

    requests, results = run(main())
    assert results == [[x * x for x in r] for r in requests]
    assert calls[0] == [0, 100, 1, 101, 2, 102, 3, 103]  # four requests, one call
    assert calls[1] == list(range(10))  # larger than max_batch_size: alone, never split


def test_a_failing_request_does_not_fail_its_neighbours():
    def checked(items):
        if any(x < 0 for x in items):
            raise ValueError("negative item")
        return [x + 1 for x in items]

    async def main():
        batcher = DynamicBatcher(checked, max_batch_size=16, max_wait_s=0.05)
        await batcher.start()
        out = await asyncio.gather(batcher.submit([1, 2]), batcher.submit([-1]),
                                   batcher.submit([3]), return_exceptions=True)
        await batcher.close()
        return out, batcher.stats

    (first, bad, third), stats = run(main())
    assert first == [2, 3] and third == [4]
    assert isinstance(bad, ValueError)
    assert stats.calls == 4  # the merged call failed, then each request ran alone


def test_queue_bound_and_draining_close():
    import time

    def slow(items):
        time.sleep(0.2)
        return items

    async def main():
        batcher = DynamicBatcher(slow, max_batch_size=1, max_wait_s=0, max_queue=2)
        await batcher.start()
        running = asyncio.create_task(batcher.submit([1]))
        await asyncio.sleep(0.05)  # the first is running, the queue is empty
        queued = [asyncio.create_task(batcher.submit([k])) for k in (2, 3)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull) as full:
            await batcher.submit([4])
        assert full.value.retry_after >= 1
        closing = asyncio.create_task(batcher.close())
        await asyncio.sleep(0)
        with pytest.raises(Closed):
            await batcher.submit([6])
        await closing  # drains what was accepted
        return await running, [await q for q in queued]

    assert run(main()) == ([1], [[2], [3]])


def test_abandoned_request_is_skipped():
    import time

    seen: list[int] = []

    def slow(items):
        seen.extend(items)
        time.sleep(0.1)
        return items

    async def main():
        batcher = DynamicBatcher(slow, max_batch_size=1, max_wait_s=0)
        await batcher.start()
        first = asyncio.create_task(batcher.submit([1]))
        await asyncio.sleep(0.01)
        with pytest.raises(asyncio.TimeoutError):
            await batcher.submit([2], timeout=0.02)  # still queued behind the first
        assert await first == [1]
        assert await batcher.submit([3]) == [3]
        await batcher.close()
        return batcher.stats

    stats = run(main())
    assert seen == [1, 3] and stats.timed_out == 1


def test_a_request_larger_than_the_queue_is_too_large_not_full():
    from rewardmine.server.batcher import TooLarge

    async def main():
        batcher = DynamicBatcher(lambda items: items, max_queue=3)
        await batcher.start()
        try:
            with pytest.raises(TooLarge, match=r"4 items in one request .* at most 3; split"):
                await batcher.submit([1, 2, 3, 4])
            return await batcher.submit([1, 2, 3])
        finally:
            await batcher.close()

    assert run(main()) == [1, 2, 3]


def test_an_unavailable_model_fails_the_merged_call_once_not_per_request():
    from rewardmine.server.batcher import Unavailable

    calls: list[int] = []

    def down(items):
        calls.append(len(items))
        raise Unavailable("the model process is restarting", retry_after=3)

    async def main():
        batcher = DynamicBatcher(down, max_batch_size=8, max_wait_s=0.05)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit([k]) for k in range(4)),
                                       return_exceptions=True)
        await batcher.close()
        return results

    results = run(main())
    assert all(isinstance(r, Unavailable) and r.retry_after == 3 for r in results)
    assert calls == [4]  # no retry of each request alone


def test_close_with_a_timeout_fails_what_is_still_queued():
    import time

    async def main():
        batcher = DynamicBatcher(lambda items: (time.sleep(0.5), items)[1], max_batch_size=1,
                                 max_wait_s=0)
        await batcher.start()
        tasks = [asyncio.ensure_future(batcher.submit([k])) for k in range(3)]
        await asyncio.sleep(0.1)  # the first call is running
        started = time.monotonic()
        await batcher.close(timeout_s=0.1)
        took = time.monotonic() - started
        return took, await asyncio.gather(*tasks[1:], return_exceptions=True)

    took, queued = run(main())
    assert took < 0.4 and all(isinstance(r, Closed) for r in queued)


def test_a_retry_joins_the_work_its_first_attempt_left():
    """A client that times out and sends the same request again (OpenRLHF retries 5 times) gets
    the results of the work already under way, computed once: a slow call is not recomputed per
    retry, and two concurrent identical requests share one computation."""
    import threading

    seen: list[list[int]] = []
    release = threading.Event()

    def slow(items):
        seen.append(list(items))
        release.wait(5)
        return [x * 10 for x in items]

    async def main():
        batcher = DynamicBatcher(slow, max_batch_size=8, max_wait_s=0.0, key=tuple)
        await batcher.start()
        with pytest.raises(asyncio.TimeoutError):  # the first attempt gives up
            await batcher.submit([1, 2], timeout=0.1)
        retry = asyncio.ensure_future(batcher.submit([1, 2], timeout=10))
        twin = asyncio.ensure_future(batcher.submit([1, 2], timeout=10))
        other = asyncio.ensure_future(batcher.submit([3], timeout=10))
        await asyncio.sleep(0.1)
        release.set()
        results = await asyncio.gather(retry, twin, other)
        again = await batcher.submit([1, 2], timeout=10)  # settled work is not reused
        await batcher.close()
        return results, again, batcher.stats

    (retry, twin, other), again, stats = run(main())
    assert retry == twin == again == [10, 20] and other == [30]
    assert seen.count([1, 2]) == 2  # the first attempt's call, then the later fresh request
    assert stats.joined == 2 and stats.timed_out == 1
