"""Who may do what: the one permission table that every page and the CLI pass through.

Three roles. A **user** logged in to a hosted app uses the faces and the networks with data they
upload; an **admin** also changes what every user gets (the gallery's people, the operating
point, the model in use, shared indexes) and may read folders the operator allowed; the
**operator** runs the server and the CLI, and may do everything. Local mode (no login, loopback
only) is an admin.

Pages ask ``actor.may(action)`` only to hide what the check would refuse; the check itself sits
below them, in the engine and the store (``actor.require(action)``), so a page that forgets to
hide a button still cannot do what its role may not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from engine.errors import VisionLabError


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"
    OPERATOR = "operator"


class Action(StrEnum):
    """Everything a person can do to Vision Lab's shared state or through its compute."""

    ENROL = "enrol"
    VERIFY = "verify"
    RECOGNIZE = "recognize"
    EVALUATE = "evaluate"
    SAVE_OPERATING_POINT = "save the operating point"
    TRAIN = "train a model"
    SAVE_MODEL = "save a trained model"
    USE_MODEL = "choose the model in use"
    RENAME = "rename a person"
    EDIT_NOTES = "edit notes"
    REMOVE_FACE = "remove a face"
    DELETE_PERSON = "delete a person"
    MERGE = "merge two people"
    EXPORT = "export the gallery"
    IMPORT = "import a gallery"
    INDEX_UPLOADS = "index uploaded images (private to the session)"
    BUILD_SHARED_INDEX = "build a shared neuron index"
    STYLE_TRANSFER = "style transfer"
    READ_SERVER_FOLDER = "read a server folder (under the allowed roots)"


_EVERYONE = frozenset(Role)
_ADMINS = frozenset({Role.ADMIN, Role.OPERATOR})

PERMISSIONS: Mapping[Action, frozenset[Role]] = {
    Action.ENROL: _EVERYONE,
    Action.VERIFY: _EVERYONE,
    Action.RECOGNIZE: _EVERYONE,
    Action.EVALUATE: _EVERYONE,
    Action.SAVE_OPERATING_POINT: _ADMINS,
    Action.TRAIN: _EVERYONE,
    Action.SAVE_MODEL: _ADMINS,
    Action.USE_MODEL: _ADMINS,
    Action.RENAME: _ADMINS,
    Action.EDIT_NOTES: _ADMINS,
    Action.REMOVE_FACE: _ADMINS,
    Action.DELETE_PERSON: _ADMINS,
    Action.MERGE: _ADMINS,
    Action.EXPORT: _ADMINS,
    Action.IMPORT: _ADMINS,
    Action.INDEX_UPLOADS: _EVERYONE,
    Action.BUILD_SHARED_INDEX: _ADMINS,
    Action.STYLE_TRANSFER: _EVERYONE,
    Action.READ_SERVER_FOLDER: _ADMINS,
}


class PermissionDenied(VisionLabError):
    """The actor's role may not do this action."""

    def __init__(self, role: Role, action: Action) -> None:
        super().__init__(
            f"Only an admin can {action.value} (you are logged in as a {role.value}); "
            "log in with the admin password or an admin account."
        )
        self.role = role
        self.action = action


@dataclass(frozen=True)
class Actor:
    """Who is asking: a role, and nothing else the engine needs to know about them."""

    role: Role

    def may(self, action: Action) -> bool:
        return self.role in PERMISSIONS[action]

    def require(self, action: Action) -> None:
        if self.role not in PERMISSIONS[action]:  # not ``may``: pages may only hide
            raise PermissionDenied(self.role, action)


OPERATOR = Actor(Role.OPERATOR)
"""The CLI and benchmarks: whoever runs them already holds the server's files."""


def permission_table() -> list[dict[str, str]]:
    """The table as rows (action, user, admin, operator), for the README and the Privacy page."""
    return [
        {"action": action.value, **{role.value: "yes" if role in roles else "—" for role in Role}}
        for action, roles in PERMISSIONS.items()
    ]
