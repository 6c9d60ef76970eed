"""Who acts for the level that issues a recognition decision, in its territory: the level's
officer drafts the decision (and may revoke a recognition it made), the territory's leader
issues it. One rule for drafting, issuing and revoking."""

from __future__ import annotations

from htsd_workflow.auth.models import User

#: the officer of each issuing level: drafts its decisions, revokes its recognitions
DRAFTER_ROLES = {
    "commune": ("commune_reviewer",),
    "district": ("district_reviewer",),
    "province": ("province_officer",),
}
#: who issues a decision: the leader of the territory, who signs
ISSUER_ROLES = ("manager",)

#: (province, district, commune) codes, as ``Unit.path()`` and the decision's columns hold them
Path = tuple[str, "str | None", "str | None"]


def unit_at(level: str, path: Path) -> str | None:
    """The code of the unit at ``level`` on a unit path."""
    province, district, commune = path
    return {"province": province, "district": district, "commune": commune}.get(level)


def leader_level(level: str, path: Path) -> str:
    """The level whose manager leads a territory of ``level``: the same level, except a
    commune (accounts have no commune managers, ``ROLE_LEVEL``): the manager above it signs for
    it, the district's, or the province's where the commune has no district (since 2025)."""
    if level != "commune":
        return level
    return "district" if unit_at("district", path) else "province"


def _bound_to(user: User, level: str, path: Path) -> bool:
    code = unit_at(level, path)
    return (
        bool(user.is_active)
        and user.unit_level == level
        and code is not None
        and (user.unit_code == code)
    )


def is_officer_of(user: User, level: str, path: Path) -> bool:
    """Whether ``user`` is the officer of the issuing ``level`` for the territory on ``path``."""
    return user.role in DRAFTER_ROLES.get(level, ()) and _bound_to(user, level, path)


def is_leader_of(user: User, level: str, path: Path) -> bool:
    """Whether ``user`` is the manager who issues the decisions of ``level`` for ``path``."""
    return user.role in ISSUER_ROLES and _bound_to(user, leader_level(level, path), path)


def acts_for_issuing_level(user: User, level: str, path: Path) -> bool:
    """The officer or the leader of the issuing level for the territory on ``path``."""
    return is_officer_of(user, level, path) or is_leader_of(user, level, path)
