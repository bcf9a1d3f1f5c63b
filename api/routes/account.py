"""The account's end and its archive: ``DELETE /users/me`` and ``GET /users/me/export``.

Deletion needs the current password (checked as a login checks it, limited like one) even with a valid token:
a token left on a shared machine must not be enough to erase an account. It publishes ``account-deleted``
(every processor purges the account's data; streams/account_purge.py retracts the rest) and then makes the
account unusable at once, before any purge has run: the password no longer matches anything, every refresh
session is revoked, and every access token of the account is refused (a Redis mark checked with the
logout list in one ``EXISTS``). Publishing comes first: if it fails, nothing was changed and the client
retries; if what follows fails, the purge removes the credentials anyway.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.account_export import AccountExport
from api.auth import close_account, revoke_access
from api.deps import CurrentClaims, CurrentUser, ResourcesDep, SettingsDep, per_app
from api.errors import ApiError
from api.routes.auth import AccountsDep, _limit_login
from api.routes.writes import Accepted, _publish
from photostream.domain.accounts import PASSWORD_MAX
from producers import events

router = APIRouter(tags=["users"])


class DeleteAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(max_length=PASSWORD_MAX, description="the current password (re-authentication)")


@router.delete("/users/me", status_code=202, response_model=Accepted)
async def delete_me(body: DeleteAccountIn, claims: CurrentClaims, request: Request, accounts: AccountsDep,
                    resources: ResourcesDep, settings: SettingsDep) -> Accepted:
    """202 with the ``account-deleted`` event's id and token; 403 if the password is wrong."""
    user = claims.user_id
    await _limit_login(request, resources, settings, user, "reauth")
    if await accounts.check_password(user, body.password) is None:
        raise ApiError(403, "forbidden", "password is wrong", "password")
    accepted = await _publish(resources, settings, user, events.account_deleted(user_id=user), "write")
    await accounts.credentials.disable(user)
    await accounts.refresh_tokens.revoke_all(user)
    await close_account(resources.revocations, user)
    await revoke_access(resources.revocations, claims)
    return accepted


def _exporter(request: Request) -> AccountExport:
    return per_app(request, AccountExport, lambda state: AccountExport(state.settings, state.resources.session))


@router.get("/users/me/export", response_class=Response,
            responses={200: {"content": {"application/json": {}}, "description": "the archive, as an attachment"}})
async def export_me(user: CurrentUser, request: Request, resources: ResourcesDep) -> Response:
    """The caller's own data as one JSON document, offered as a download."""
    archive: dict[str, Any] = await _exporter(request).archive(resources, user)
    return Response(json.dumps(archive, ensure_ascii=False, default=str), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="photostream-export-{user}.json"',
                             "Cache-Control": "no-store"})
