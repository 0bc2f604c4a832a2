"""Profile views for the paper's ablation (section 5.3), applied at prompt time to any
PTBench-shaped benchmark: what the model is shown of the user."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pertool.schema import Environment, Profile, Sample

__all__ = ["CONTEXT_VIEWS", "PROFILE_VIEWS", "ProfileView", "apply_profile_view"]

ProfileView = Literal["all", "no-basic", "no-history", "none", "persona-only", "environment-only"]
PROFILE_VIEWS: tuple[ProfileView, ...] = ("all", "no-basic", "no-history", "none")
# ToolSpectrum's conditions: the persona alone (environment blanked), the environment alone.
CONTEXT_VIEWS: tuple[ProfileView, ...] = ("persona-only", "environment-only")


def apply_profile_view(samples: Sequence[Sample], view: ProfileView) -> list[Sample]:
    """Samples whose profiles keep only what `view` shows (the gold answers are unchanged)."""
    if view == "all":
        return list(samples)
    if view == "persona-only":
        return [s.model_copy(update={"environment": Environment()}) for s in samples]
    if view not in (*PROFILE_VIEWS, *CONTEXT_VIEWS):
        known = ", ".join((*PROFILE_VIEWS, *CONTEXT_VIEWS))
        raise ValueError(f"unknown profile view {view!r}; known: {known}")
    update: dict[str, object] = {}
    if view in ("no-basic", "none", "environment-only"):
        update["basic_features"] = {}
    if view in ("no-history", "none", "environment-only"):
        update["user_history"] = {}
    viewed: dict[int, Profile] = {}  # profiles are shared between samples; keep them shared
    out = []
    for sample in samples:
        key = id(sample.profile)
        if key not in viewed:
            viewed[key] = sample.profile.model_copy(update=update)
        out.append(sample.model_copy(update={"profile": viewed[key]}))
    return out
