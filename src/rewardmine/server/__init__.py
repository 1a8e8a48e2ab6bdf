"""The HTTP reward server (``rewardmine serve``; needs the ``server`` extra)."""
