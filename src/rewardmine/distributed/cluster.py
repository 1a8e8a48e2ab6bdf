"""Joining Ray, in one place for Ray Data (offline scoring) and Ray Serve (replicas)."""

from __future__ import annotations

import os
from typing import Any

from rewardmine.errors import RewardmineError


def join_ray() -> Any:
    """The ``ray`` module, joined to the cluster of ``RAY_ADDRESS`` (``local``: a Ray of its own),
    or, with it unset, to the cluster ``ray start`` runs on this machine if there is one, else a
    new local Ray (Ray's own rule); or the one ``ray.init`` already joined.

    Ray Client (``RAY_ADDRESS=ray://...``) is refused with what to do instead: Ray Data's
    progress and actor pools run on the driver, which Ray Client keeps outside the cluster, and a
    run there died inside Ray Data with a raw traceback.
    """
    from rewardmine.optional import require_extra

    ray = require_extra("ray", extra="ray", needed_for="the Ray engine")
    if ray.is_initialized():
        return ray
    address = os.environ.get("RAY_ADDRESS", "")
    if address.startswith("ray://"):
        raise RewardmineError(
            f"RAY_ADDRESS={address} is a Ray Client address, which rewardmine does not run "
            "through; run the command on the cluster with `ray job submit --address "
            "http://HEAD:8265 -- rewardmine ...`, or set RAY_ADDRESS to the cluster's GCS "
            "address (HEAD:6379) from a node inside it")
    ray.init(log_to_driver=False)  # reads RAY_ADDRESS itself
    return ray
