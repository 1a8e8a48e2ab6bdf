"""rewardmine: reward signals you do not have to train."""

from rewardmine.endogenous import EndogenousReward
from rewardmine.errors import ContextLengthError, JudgeOutputError, RewardmineError
from rewardmine.judge import PrincipleJudge
from rewardmine.specs import load_judge, load_reward, load_scorer
from rewardmine.types import Judgement, TokenRewards

__version__ = "0.1.0"

__all__ = [
    "ContextLengthError",
    "EndogenousReward",
    "JudgeOutputError",
    "Judgement",
    "PrincipleJudge",
    "RewardmineError",
    "TokenRewards",
    "__version__",
    "load_judge",
    "load_reward",
    "load_scorer",
]
