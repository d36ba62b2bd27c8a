"""A simulated multi-node cluster on one machine (Ray's own ``cluster_utils.Cluster``: a head without CPUs for
workers and two nodes of one CPU each), reached through ``camo cloak --ray ADDRESS`` as a user would reach a real
one: the same outputs and verdicts as the serial run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from camo.cli import main
from tests.scale.conftest import copy_photos

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'camo[ray]')")

CHEAP = ["--recognizers", "dlib", "--preset", "low", "--steps", "1", "--no-ensure", "--json"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from ray.cluster_utils import Cluster

    simulated = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    nodes = [simulated.add_node(num_cpus=1) for _ in range(2)]
    simulated.wait_for_nodes()
    try:
        yield simulated
    finally:
        for node in nodes:
            simulated.remove_node(node)
        simulated.shutdown()


@pytest.mark.slow
def test_cluster_run_matches_the_serial_run(cluster: Any, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("dlib", reason="camo cloak needs dlib (dlib-bin)")
    folder = tmp_path / "in"
    copy_photos(folder)
    serial_out, cluster_out = tmp_path / "serial", tmp_path / "cluster"
    assert main(["cloak", str(folder), "--out", str(serial_out), *CHEAP]) in (0, 3)
    serial = json.loads(capsys.readouterr().out)
    assert main(["cloak", str(folder), "--out", str(cluster_out), *CHEAP, "--ray", cluster.address]) in (0, 3)
    spread = json.loads(capsys.readouterr().out)
    assert not ray.is_initialized()  # the command disconnects from the cluster it joined; the cluster runs on
    assert spread["run"]["workers"] == 2 and spread["run"]["done"] == len(serial["photos"]) == 4
    by_name = {Path(p["source"]).name: p for p in serial["photos"]}
    for photo in spread["photos"]:
        mine = by_name[Path(photo["source"]).name]
        assert photo["verification"] == mine["verification"], photo["source"]
        assert photo["status"] == mine["status"]
        name = Path(photo["output"]).name
        assert (cluster_out / name).read_bytes() == (serial_out / name).read_bytes(), name
    # Two workers of one CPU each, on nodes of one CPU each (the head has none): one worker ran on each node.
    assert len({node["NodeID"] for node in ray_nodes(cluster) if node["Resources"].get("CPU")}) == 2


def ray_nodes(cluster: Any) -> list[dict[str, Any]]:
    ray.init(address=cluster.address)
    try:
        return [node for node in ray.nodes() if node["Alive"]]
    finally:
        ray.shutdown()
