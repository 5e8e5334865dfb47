"""The bounded caches' eviction: oldest first, never over the limit, in any order of use."""

from __future__ import annotations

import copy
import pickle
import sys
import threading

from sessionware.bounded import Bounded


def test_the_oldest_entry_goes_first_and_the_size_never_passes_the_limit() -> None:
    cache: Bounded[int, str] = Bounded(3)
    for i in range(10):
        cache.remember(i, str(i))
        assert len(cache) == min(i + 1, 3)
    assert list(cache.items()) == [(7, "7"), (8, "8"), (9, "9")]
    assert cache.get(6) is None and cache[9] == "9"


def test_remembering_a_key_it_holds_keeps_its_place_with_the_new_value() -> None:
    cache: Bounded[str, int] = Bounded(2)
    cache.remember("a", 1)
    cache.remember("b", 2)
    cache.remember("a", 3)  # not a new entry: nothing is forgotten
    assert list(cache.items()) == [("a", 3), ("b", 2)]
    cache.remember("c", 4)  # "a" is still the oldest
    assert list(cache.items()) == [("b", 2), ("c", 4)]


def test_a_copy_or_a_pickle_keeps_the_limit_and_the_entries() -> None:
    cache: Bounded[str, int] = Bounded(2)
    cache.remember("a", 1)
    cache.remember("b", 2)
    for twin in (cache.copy(), copy.copy(cache), copy.deepcopy(cache)):
        assert type(twin) is Bounded and twin.limit == 2 and twin == cache
        twin.remember("c", 3)
        assert list(twin) == ["b", "c"] and list(cache) == ["a", "b"]
    restored = pickle.loads(pickle.dumps(cache))
    assert restored.limit == 2 and list(restored.items()) == [("a", 1), ("b", 2)]


def test_threads_racing_to_remember_never_raise_nor_leave_it_overfull() -> None:
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
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(cache) <= 64
