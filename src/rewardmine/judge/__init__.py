"""The principle-following judge: one generation scores and ranks N responses under a principle."""

from rewardmine.judge.judge import PrincipleJudge, Usage
from rewardmine.judge.modes import Mode
from rewardmine.judge.options import GenerationOptions
from rewardmine.judge.panel import JudgePanel
from rewardmine.judge.parse import parse_judgement
from rewardmine.judge.schema import verdict_schema

__all__ = ["GenerationOptions", "JudgePanel", "Mode", "PrincipleJudge", "Usage", "parse_judgement",
           "verdict_schema"]
