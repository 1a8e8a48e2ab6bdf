"""Training a principle-following judge with GRPO (the RewardAnything recipe): lists with
ground-truth scores, split by principle, turned into a TRL dataset of judge prompts exactly as
:class:`~rewardmine.PrincipleJudge` renders them, and trained with the verdict rewards of
:mod:`rewardmine.judge.training`."""
