"""The endogenous reward: a causal LM's logits read as a soft Q-function."""

from rewardmine.endogenous.scorer import EndogenousReward

__all__ = ["EndogenousReward"]
