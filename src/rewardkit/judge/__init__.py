"""The principle-following judge: one generation scores and ranks N responses under a principle."""

from rewardkit.judge.judge import PrincipleJudge, Usage
from rewardkit.judge.modes import Mode
from rewardkit.judge.options import GenerationOptions
from rewardkit.judge.panel import JudgePanel
from rewardkit.judge.parse import parse_judgement
from rewardkit.judge.schema import verdict_schema
from rewardkit.judge.specs import load_judge, parse_spec

__all__ = ["GenerationOptions", "JudgePanel", "Mode", "PrincipleJudge", "Usage", "load_judge",
           "parse_judgement", "parse_spec", "verdict_schema"]
