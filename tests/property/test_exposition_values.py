"""The exposition's own value formatting writes exactly what prometheus_client writes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.utils import floatToGoString

from agent.exposition import _value


@given(st.floats(allow_nan=True, allow_infinity=True)
       | st.sampled_from([0.0, -0.0, 1.0, 1e6, 999999.9999, 1e-5, 123456789.0, 5e-324]))
def test_value_is_floattogostring(value: float) -> None:
    assert _value(value) == floatToGoString(value)  # type: ignore[no-untyped-call]
