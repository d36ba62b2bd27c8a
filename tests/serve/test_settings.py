"""Server settings: which Host names each kind of bind answers to, and limits checked up front."""

from __future__ import annotations

import pytest

from camo.errors import InputError
from camo.serve.settings import ServeSettings


def test_host_names_for_each_kind_of_bind() -> None:
    assert ServeSettings().host_names() == {"127.0.0.1", "localhost", "::1"}
    assert ServeSettings(host="0.0.0.0", allowed_hosts=("My-Laptop.local",)).host_names() == {
        "0.0.0.0", "127.0.0.1", "localhost", "::1", "my-laptop.local"}
    assert ServeSettings(host="192.168.1.5").host_names() == {"192.168.1.5"}
    assert not ServeSettings(host="192.168.1.5").loopback and ServeSettings(host="::1").loopback


@pytest.mark.parametrize("bad", [{"port": 70000}, {"max_files": 0}, {"keep_seconds": 0}, {"queue_size": -1}])
def test_bad_limits_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(InputError):
        ServeSettings(**bad)  # type: ignore[arg-type]
