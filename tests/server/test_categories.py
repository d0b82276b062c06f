from tests.factories import case_payload


async def test_a_new_category_version_applies_to_new_cases_and_old_cases_keep_theirs(client, world):
    old = await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("grid_worker"))
    assert old.json()["category_version"] == 1

    published = await client.post(
        "/categories",
        json={
            "note": "增加山林防火",
            "items": [{"code": "neighbourhood", "name": "邻里纠纷"}, {"code": "forest_fire", "name": "山林防火"}],
        },
        headers=world.auth("admin"),
    )
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 2
    assert [item["code"] for item in published.json()["items"]] == ["neighbourhood", "forest_fire"]

    new = await client.post(
        "/cases", json=case_payload(world.grid_a, category="forest_fire"), headers=world.auth("grid_worker")
    )
    assert (new.status_code, new.json()["category_version"]) == (201, 2)
    again = await client.get(f"/cases/{old.json()['id']}", headers=world.auth("leader"))
    assert again.json()["category_version"] == 1

    retired = await client.post(
        "/cases", json=case_payload(world.grid_a, category="homestead"), headers=world.auth("grid_worker")
    )
    assert retired.status_code == 422
    assert retired.json()["errors"][0]["rule"] == "case.unknown_category"


async def test_should_refuse_to_publish_categories_unless_admin(client, world):
    answer = await client.post(
        "/categories", json={"items": [{"code": "x", "name": "某类"}]}, headers=world.auth("county")
    )
    assert (answer.status_code, answer.json()["code"]) == (403, "auth.forbidden")


async def test_should_refuse_a_category_list_with_a_duplicate_code(client, world):
    answer = await client.post(
        "/categories",
        json={"items": [{"code": "a", "name": "甲"}, {"code": "a", "name": "乙"}]},
        headers=world.auth("admin"),
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0] == {
        "field": "categories.1.code",
        "rule": "categories.duplicate",
        "message": "分类代码 a 重复",
    }
