"""The capture's pause of the cyclic garbage collector leaves it as it found it, also when the block fails."""

from __future__ import annotations

import gc

import pytest

from ikema.simulate.demo import _collector_paused


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_is_paused_in_the_block_and_restored_after(enabled):
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with _collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError), _collector_paused():
            raise RuntimeError("capture failed")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
