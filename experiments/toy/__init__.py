"""The toy world's research code: train the bundled sorting model (:mod:`.train`), generate with
it (:mod:`.generate`) and measure the claims of docs/toy-world.md (:mod:`.claims`, :mod:`.report`).
The world itself and the trained model ship with the library (:mod:`rewardmine.toy`)."""
