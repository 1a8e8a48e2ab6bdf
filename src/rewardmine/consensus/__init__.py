"""Rank aggregation and agreement statistics for building principle-following benchmarks."""

from rewardmine.consensus.aggregate import Consensus, consensus, rankings_from_judgements
from rewardmine.consensus.agreement import (
    cohens_kappa,
    fleiss_kappa,
    kendalls_w,
    pairwise_agreement,
)
from rewardmine.consensus.filter import Filtered, k_of_m_filter, kept_pairs
from rewardmine.consensus.kemeny import EXACT_MAX, kemeny, kemeny_cost
from rewardmine.consensus.rankings import ranking_from_scores

__all__ = [
    "EXACT_MAX",
    "Consensus",
    "Filtered",
    "cohens_kappa",
    "consensus",
    "fleiss_kappa",
    "k_of_m_filter",
    "kemeny",
    "kemeny_cost",
    "kendalls_w",
    "kept_pairs",
    "pairwise_agreement",
    "ranking_from_scores",
    "rankings_from_judgements",
]
