"""A tour of EndogenousReward on a model built offline (random weights: mechanics, not quality).

    python examples/endogenous_tour.py
"""

from rewardmine import EndogenousReward
from rewardmine.testing import build_model, build_tokenizer

tokenizer = build_tokenizer()
model = build_model("qwen2", len(tokenizer), seed=0)
rm = EndogenousReward(model, tokenizer)

print("score:", [round(x, 3) for x in rm.score("What is 2+2?", ["4", "5", ""])])
print("mean: ", [round(x, 3) for x in rm.score("What is 2+2?", ["4", "5"], aggregate="mean")])
steered = rm.score("What is 2+2?", ["4", "5"], system="Answer in French.")
print("steered by a system prompt:", [round(x, 3) for x in steered])

tr = rm.token_rewards("What is 2+2?", "It is 4.")
print(f"{'token':<14}{'log pi':>9}{'V(s_t)':>9}{'r_t':>9}")
for tok, lp, v, r in zip(tr.tokens, tr.logprobs, tr.values, tr.rewards, strict=True):
    print(f"{tok!r:<14}{lp:>9.3f}{v:>9.3f}{r:>9.3f}")
print(f"total {tr.total:.3f} = sum of r_t")

value = EndogenousReward(model, tokenizer, terminal="value")
print("terminal='value':", round(value.score("What is 2+2?", ["It is 4."])[0], 3))
