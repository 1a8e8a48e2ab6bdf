"""Research code that is not part of the rewardmine library: how the bundled toy model was
trained and how the claims on its pages were measured. Run from the repository root
(``python -m experiments.toy train``); the library never imports it."""
