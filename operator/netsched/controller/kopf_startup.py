"""One fix to kopf's start-up, which is quadratic in the number of indexed objects.

While kopf fills its indexes, every object of the initial listings gets a toggle of its
own in one operator-wide :class:`kopf._cogs.aiokits.aiotoggles.ToggleSet`; the object's
worker drops its toggle once the object is indexed, then waits until the whole set is
on. Adding or dropping a toggle wakes *every* waiter, although the set's state (all on,
or not) did not change. With N objects that is about N² wake-ups: on 5000 nodes with 2500
pods, the operator spent about 280 s of CPU in them before its first decision (measured
with py-spy: over half the samples under ``ToggleSet.make_toggle``/``notify_all``).

:func:`install` makes adding and dropping a toggle wake the waiters only when the set's
state changes. That is all the waiters of a set wait for: a waiter on one toggle of the
set waits for that toggle's own state, which adding or dropping another does not change
(turning a toggle still wakes everyone, as before). It replaces two methods of kopf
1.45 and nothing else, and refuses any other kopf version, so that an upgrade makes
someone look again (the fix belongs upstream).
"""

from __future__ import annotations

import kopf
from kopf._cogs.aiokits import aiotoggles

PATCHED_VERSIONS = ("1.45.",)
"""The kopf releases whose ToggleSet this module knows."""


class KopfVersionError(RuntimeError):
    """The installed kopf is one this fix was not written for."""


async def _make_toggle(
    self: aiotoggles.ToggleSet, __val: bool = False, *, name: str | None = None
) -> aiotoggles.Toggle:
    toggle = aiotoggles.Toggle(__val, name=name, condition=self._condition)
    async with self._condition:
        before = self.is_on()
        self._toggles.add(toggle)
        if self.is_on() != before:
            self._condition.notify_all()
    return toggle


async def _drop_toggle(self: aiotoggles.ToggleSet, toggle: aiotoggles.Toggle) -> None:
    async with self._condition:
        before = self.is_on()
        self._toggles.discard(toggle)
        if self.is_on() != before:
            self._condition.notify_all()


def install() -> None:
    """Apply the fix (idempotent). Raises :class:`KopfVersionError` on an unknown kopf."""
    version = getattr(kopf, "__version__", "")
    if not version.startswith(PATCHED_VERSIONS):
        raise KopfVersionError(
            f"netsched's start-up fix knows kopf {', '.join(PATCHED_VERSIONS)}x, not "
            f"{version or 'this one'}: check kopf's ToggleSet (kopf/_cogs/aiokits/aiotoggles.py) "
            "and update netsched.controller.kopf_startup"
        )
    aiotoggles.ToggleSet.make_toggle = _make_toggle  # type: ignore[method-assign]
    aiotoggles.ToggleSet.drop_toggle = _drop_toggle  # type: ignore[method-assign]
