"""Which reward a verl config runs, and the keys verl 0.9 accepts but ignores.

verl 0.9.1's ``main_ppo`` still accepts the pre-0.9 reward keys (top-level
``custom_reward_function.*``, ``reward_model.reward_manager``, ``reward_model.reward_kwargs``, ...)
without migrating them: the run then uses verl's own rule-based reward, and no rewardmine code is
ever called to notice. This check composes verl's own config with the same overrides and says
what will run::

    python -m rewardmine.rl.verl_config actor_rollout_ref.model.path=... reward.reward_manager...

It exits 2 naming every ignored key that is set. Needs verl installed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LEGACY = {
    "custom_reward_function.path": "reward.custom_reward_function.path",
    "custom_reward_function.name": "reward.custom_reward_function.name",
    "custom_reward_function.reward_kwargs": "reward.custom_reward_function.reward_kwargs",
    "reward_model.reward_manager": "reward.reward_manager.name",
    "reward_model.reward_loop_source": "reward.reward_manager.source",
    "reward_model.reward_loop_module_path": "reward.reward_manager.module.path",
    "reward_model.reward_loop_class_name": "reward.reward_manager.name",
    "reward_model.reward_kwargs": "reward.reward_kwargs",
    "reward_model.enable": "reward.reward_model.enable",
    "reward_model.num_workers": "reward.num_workers",
}


def _get(config: Any, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        if node is None or part not in node:
            return None
        node = node[part]
    return node


def ignored_keys(config: Any) -> list[str]:
    """The pre-0.9 reward keys set in ``config``, each with the key verl 0.9 reads instead."""
    return [f"{old}={_get(config, old)!r} is ignored by verl 0.9's main_ppo; use {new}"
            for old, new in LEGACY.items() if _get(config, old) not in (None, {}, [])]


def describe(config: Any) -> str:
    """One line: the reward manager and the reward function this config runs."""
    manager = config.reward.reward_manager
    where = (f"{manager.name} from {manager.module.path}" if manager.source == "importlib"
             else f"verl's registered '{manager.name}' manager")
    path = config.reward.custom_reward_function.get("path")
    function = (f"{config.reward.custom_reward_function.name} from {path}" if path
                else "verl's default rule-based compute_score")
    return f"reward manager: {where}; reward function: {function}"


def compose(overrides: Sequence[str]) -> Any:
    """verl's ppo_trainer config with command-line ``overrides``, as ``main_ppo`` composes it."""
    import verl
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    folder = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=folder, version_base=None):
        return hydra_compose(config_name="ppo_trainer", overrides=list(overrides))


def main(argv: Sequence[str] | None = None) -> int:
    config = compose(sys.argv[1:] if argv is None else argv)
    print(describe(config))
    problems = ignored_keys(config)
    for problem in problems:
        print(f"rewardmine verl_config: {problem}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
