"""Write bodies refuse what is not what it claims to be, naming the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.routes.writes import LocationIn


@pytest.mark.parametrize("field", ["lat", "lon"])
def test_a_boolean_is_no_coordinate(field: str) -> None:
    with pytest.raises(ValidationError) as info:
        LocationIn.model_validate({"name": "Lisbon", field: True})
    assert info.value.errors()[0]["loc"] == (field,)
    assert LocationIn.model_validate({"name": "Lisbon", "lat": 38, "lon": -9.1}).lat == 38.0  # an integer is one
