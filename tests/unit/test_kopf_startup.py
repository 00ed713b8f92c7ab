"""kopf's start-up toggles, with netsched's fix: waiters wake when the set's state flips, not
on every toggle added or dropped (which made the start-up quadratic in the objects listed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from kopf._cogs.aiokits import aiotoggles

from netsched.controller import kopf_startup

kopf_startup.install()


class Counted:
    """``all``, counting how often a ToggleSet evaluates its state."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, states: Iterable[bool]) -> bool:
        self.calls += 1
        return all(states)


async def start_up(objects: int, fn: Counted) -> list[str]:
    """What kopf does with the objects of an initial listing: a toggle each, dropped once the
    object is indexed, after which the object waits for the whole set."""
    indexed = aiotoggles.ToggleSet(fn)
    blocker = await indexed.make_toggle(name="listing")
    handled: list[str] = []

    async def one(name: str) -> None:
        toggle = await indexed.make_toggle(name=name)
        await asyncio.sleep(0)  # indexing
        await indexed.drop_toggle(toggle)
        await indexed.wait_for(True)
        handled.append(name)

    tasks = []
    for i in range(objects):  # the listing streams in: earlier objects already wait
        tasks.append(asyncio.create_task(one(f"o{i}")))
        for _ in range(4):
            await asyncio.sleep(0)
    assert not handled  # nobody is handled before the listing ends
    await indexed.drop_toggle(blocker)
    await asyncio.gather(*tasks)
    return handled


def test_every_object_is_handled_once_the_listing_ends() -> None:
    assert sorted(asyncio.run(start_up(50, Counted()))) == sorted(f"o{i}" for i in range(50))


def test_the_waiters_are_woken_about_once_each_not_once_per_toggle() -> None:
    fn = Counted()
    asyncio.run(start_up(2000, fn))
    # kopf alone evaluates the state for every waiter on every toggle: about 2000² / 2
    # times. With the fix, a few times per object.
    assert fn.calls < 10 * 2000


def test_a_waiter_for_off_wakes_when_a_toggle_is_added() -> None:
    async def scenario() -> bool:
        paused = aiotoggles.ToggleSet(any)
        waiter = asyncio.create_task(paused.wait_for(True))
        await asyncio.sleep(0)
        await paused.make_toggle(True, name="paused")
        await asyncio.wait_for(waiter, timeout=5)
        return paused.is_on()

    assert asyncio.run(scenario())
