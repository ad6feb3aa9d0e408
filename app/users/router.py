from __future__ import annotations

from fastapi import APIRouter

from app.auth.policy import AdminAccess, SignedIn
from app.users import service
from app.users.schemas import TokenCreate, TokenCreated, TokenOut, UserCreate, UserOut, UserUpdate
from app.web.deps import SessionDep

router = APIRouter(prefix="/api", tags=["users"])


@router.get("/me")
def me(access: SignedIn) -> UserOut:
    return UserOut.model_validate(access.required_user)


@router.get("/users")
def list_users(db: SessionDep, _: AdminAccess) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in service.list_users(db)]


@router.post("/users", status_code=201)
def create_user(data: UserCreate, db: SessionDep, _: AdminAccess) -> UserOut:
    user = service.create_user(db, email=data.email, password=data.password, role=data.role)
    return UserOut.model_validate(user)


@router.patch("/users/{user_id}")
def update_user(user_id: int, data: UserUpdate, db: SessionDep, access: AdminAccess) -> UserOut:
    user = service.update_user(
        db, access.required_user, user_id, role=data.role, active=data.active
    )
    return UserOut.model_validate(user)


@router.get("/tokens")
def list_tokens(db: SessionDep, access: SignedIn) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in service.list_tokens(db, access.required_user)]


@router.post("/tokens", status_code=201)
def create_token(data: TokenCreate, db: SessionDep, access: SignedIn) -> TokenCreated:
    token, secret = service.create_token(db, access.required_user, data.name)
    return TokenCreated(**TokenOut.model_validate(token).model_dump(), token=secret)


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: int, db: SessionDep, access: SignedIn) -> TokenOut:
    return TokenOut.model_validate(service.revoke_token(db, access.required_user, token_id))
