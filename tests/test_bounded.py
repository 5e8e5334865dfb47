"""The bounded caches' eviction: oldest first, never over the limit, in any order of use."""

from __future__ import annotations

import threading

from sessionware.bounded import Bounded


def test_the_oldest_entry_goes_first_and_the_size_never_passes_the_limit() -> None:
    cache: Bounded[int, str] = Bounded(3)
    for i in range(10):
        cache.remember(i, str(i))
        assert len(cache) == min(i + 1, 3)
    assert list(cache.items()) == [(7, "7"), (8, "8"), (9, "9")]
    assert cache.get(6) is None and cache[9] == "9"


def test_a_full_cache_makes_room_first_even_for_a_key_it_holds() -> None:
    cache: Bounded[str, int] = Bounded(2)
    cache.remember("a", 1)
    cache.remember("b", 2)
    cache.remember("a", 3)  # full: forgets "a" first, then adds it as the newest
    assert list(cache.items()) == [("b", 2), ("a", 3)]


def test_threads_racing_to_remember_never_raise_nor_overfill() -> None:
    cache: Bounded[tuple[int, int], int] = Bounded(64)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20_000):
                cache.remember((n, i), i)
                cache.get((n, i - 1))
        except BaseException as error:  # pragma: no cover - the failure this test looks for
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 64
