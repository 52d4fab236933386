"""How many examples a property-based test runs: its own budget in `make test`,
``FUZZ_MULTIPLIER`` times more under `make fuzz` (``--hypothesis-profile=fuzz``)."""

from __future__ import annotations

from hypothesis import settings


def examples(n: int) -> settings:
    """``@examples(200)``: 200 examples in CI, 200 x FUZZ_MULTIPLIER when fuzzing."""
    from tests.conftest import FUZZ_MULTIPLIER

    scale = FUZZ_MULTIPLIER if settings.get_current_profile_name() == "fuzz" else 1
    return settings(max_examples=n * scale)
