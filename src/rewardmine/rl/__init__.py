"""Adapters that put rewardmine's rewards into RL trainers: TRL, verl and OpenRLHF."""
