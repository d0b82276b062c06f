"""Login, tokens (expiry, logout), the caller's own account, and creating accounts."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from grid.people import User
from server.tables import AuthToken
from tests.conftest import T0, TEST_PASSWORD

PROBLEM = "application/problem+json"
NEW_PASSWORD = "山路十八弯 2026"


def problem_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == code, body
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client, username: str, password: str = TEST_PASSWORD):
    return await client.post("/auth/login", json={"username": username, "password": password})


def new_user(**overrides) -> dict:
    body = {
        "username": "zhang.wei",
        "display_name": "张伟",
        "role": "grid_worker",
        "node_code": "611026001001002",
        "password": NEW_PASSWORD,
    }
    body.update(overrides)
    return body


# ------------------------------------------------------------------ login and tokens


async def test_should_log_in_with_the_right_password_and_hand_out_a_working_token(client, world, settings):
    response = await login(client, "leader")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert datetime.fromisoformat(body["expires_at"]) == T0 + timedelta(hours=settings.token_ttl_hours)
    assert (body["user"]["username"], body["user"]["role"]) == ("leader", "village_leader")
    me = await client.get("/auth/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json()["id"] == str(world.principals["leader"].user_id)


async def test_should_give_the_same_answer_for_a_wrong_password_and_an_unknown_user(client):
    wrong_password = await login(client, "leader", "correct horse battery staple")
    unknown_user = await login(client, "nobody", TEST_PASSWORD)
    problem_of(wrong_password, 401, "auth.invalid_credentials")
    problem_of(unknown_user, 401, "auth.invalid_credentials")
    assert wrong_password.json() == unknown_user.json()
    assert "token" not in wrong_password.json()


async def test_should_refuse_a_missing_malformed_or_unknown_token(client):
    for headers in ({}, {"Authorization": "Token abc"}, {"Authorization": "Bearer "}, bearer("not-a-real-token")):
        problem_of(await client.get("/auth/me", headers=headers), 401, "auth.unauthenticated")


async def test_should_refuse_a_token_once_its_lifetime_is_over(client, world, clock, settings):
    clock.advance(hours=settings.token_ttl_hours, seconds=-1)
    assert (await client.get("/auth/me", headers=world.auth("leader"))).status_code == 200
    clock.advance(seconds=1)
    problem_of(await client.get("/auth/me", headers=world.auth("leader")), 401, "auth.token_expired")
    problem_of(await client.get("/cases", headers=world.auth("leader")), 401, "auth.token_expired")
    relogin = await login(client, "leader")
    assert (await client.get("/auth/me", headers=bearer(relogin.json()["token"]))).status_code == 200


async def test_should_revoke_a_token_on_logout_and_keep_the_users_other_tokens(client, world):
    token = (await login(client, "town")).json()["token"]
    assert (await client.post("/auth/logout", headers=bearer(token))).status_code == 204
    problem_of(await client.get("/auth/me", headers=bearer(token)), 401, "auth.token_revoked")
    problem_of(await client.get("/cases", headers=bearer(token)), 401, "auth.token_revoked")
    assert (await client.get("/auth/me", headers=world.auth("town"))).status_code == 200


async def test_should_refuse_logout_without_a_token(client):
    problem_of(await client.post("/auth/logout"), 401, "auth.unauthenticated")


async def test_should_store_only_a_digest_of_each_token(client, db):
    token = (await login(client, "mediator")).json()["token"]
    async with db.read() as session:
        stored = (await session.exec(select(AuthToken.token_hash))).all()
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token not in stored


@pytest.mark.parametrize(
    ("who", "role", "node"), [("grid_worker", "grid_worker", "grid_a"), ("county", "county_officer", "county")]
)
async def test_should_tell_the_caller_who_they_are(client, world, who, role, node):
    response = await client.get("/auth/me", headers=world.auth(who))
    assert response.status_code == 200
    body = response.json()
    assert (body["username"], body["role"], body["node_code"]) == (who, role, getattr(world, node))
    assert "password" not in response.text


async def test_should_store_passwords_as_argon2id_hashes(client, world, db):
    created = await client.post("/users", json=new_user(), headers=world.auth("admin"))
    assert created.status_code == 201, created.text
    async with db.read() as session:
        hashes = dict((await session.exec(select(User.username, User.password_hash))).all())
    for username, password in (("leader", TEST_PASSWORD), ("zhang.wei", NEW_PASSWORD)):
        assert hashes[username].startswith("$argon2id$")
        assert password not in hashes[username]


# ------------------------------------------------------------------ accounts


async def test_should_let_an_admin_create_a_user_in_their_area_who_can_then_log_in(client, world):
    response = await client.post("/users", json=new_user(node_code=world.grid_a2), headers=world.auth("admin"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["username"], body["role"], body["node_code"], body["active"]) == (
        "zhang.wei",
        "grid_worker",
        world.grid_a2,
        True,
    )
    assert NEW_PASSWORD not in response.text and "password" not in response.text
    token = (await login(client, "zhang.wei", NEW_PASSWORD)).json()["token"]
    me = await client.get("/auth/me", headers=bearer(token))
    assert me.json()["id"] == body["id"]
    listed = await client.get("/users", params={"role": "grid_worker"}, headers=world.auth("leader"))
    assert {user["username"] for user in listed.json()} == {"grid_worker", "zhang.wei"}


async def test_should_refuse_an_admin_creating_a_user_outside_their_area(client, world):
    response = await client.post("/users", json=new_user(node_code=world.other_grid), headers=world.auth("admin"))
    problem_of(response, 404, "auth.out_of_scope")
    problem_of(await login(client, "zhang.wei", NEW_PASSWORD), 401, "auth.invalid_credentials")


async def test_should_refuse_a_user_at_a_region_that_does_not_exist(client, world):
    response = await client.post("/users", json=new_user(node_code="611026999999"), headers=world.auth("admin"))
    problem_of(response, 404, "region.not_found")


@pytest.mark.parametrize(
    ("role", "node"),
    [
        ("grid_worker", "village_a"),
        ("village_leader", "grid_a"),
        ("village_mediator", "town_a"),
        ("town_officer", "village_a"),
        ("county_officer", "town_a"),
        ("admin", "village_a"),
    ],
)
async def test_should_refuse_a_role_at_a_level_where_it_does_no_work(client, world, role, node):
    response = await client.post(
        "/users", json=new_user(role=role, node_code=getattr(world, node)), headers=world.auth("admin")
    )
    body = problem_of(response, 422, "user.role_level_mismatch")
    assert body["role"] == role


@pytest.mark.parametrize(
    ("role", "node"), [("village_leader", "village_a2"), ("town_officer", "town_b"), ("admin", "town_a")]
)
async def test_should_accept_a_role_at_a_level_where_it_works(client, world, role, node):
    response = await client.post(
        "/users", json=new_user(role=role, node_code=getattr(world, node)), headers=world.auth("admin")
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("who", ["county", "town", "leader", "grid_worker"])
async def test_should_forbid_anyone_but_an_admin_to_create_users(client, world, who):
    response = await client.post("/users", json=new_user(node_code=world.grid_a), headers=world.auth(who))
    problem_of(response, 403, "auth.forbidden")
    problem_of(await login(client, "zhang.wei", NEW_PASSWORD), 401, "auth.invalid_credentials")


async def test_should_refuse_a_username_that_is_taken(client, world):
    response = await client.post("/users", json=new_user(username="leader"), headers=world.auth("admin"))
    problem_of(response, 409, "user.username_taken")
    # The old account keeps its password.
    assert (await login(client, "leader")).status_code == 201
    problem_of(await login(client, "leader", NEW_PASSWORD), 401, "auth.invalid_credentials")


async def test_should_name_each_field_of_a_bad_account(client, world):
    response = await client.post(
        "/users", json=new_user(username="张 伟", password="short", role="chief"), headers=world.auth("admin")
    )
    body = problem_of(response, 422, "validation.failed")
    assert {error["field"] for error in body["errors"]} == {"username", "password", "role"}
