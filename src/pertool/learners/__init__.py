"""Context features and shallow learners (majority maps, trees, grouped folds): the pieces the
shortcut audit (`pertool.audit`) and the rule baseline (`pertool.answerers.rules_baseline`)
share. Neither of those imports the other."""

from pertool.learners.features import (
    API_FIELD,
    MISSING,
    PREFERENCES,
    FeatureSpace,
    context_key,
    value_key,
    words,
)
from pertool.learners.folds import assign_folds
from pertool.learners.trees import (
    MajorityMap,
    Row,
    TreeNode,
    best_majority_map,
    learn_majority_map,
    learn_tree,
)

__all__ = [
    "API_FIELD",
    "MISSING",
    "PREFERENCES",
    "FeatureSpace",
    "MajorityMap",
    "Row",
    "TreeNode",
    "assign_folds",
    "best_majority_map",
    "context_key",
    "learn_majority_map",
    "learn_tree",
    "value_key",
    "words",
]
