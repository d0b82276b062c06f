from tests.factories import case_payload


async def test_a_grid_worker_registers_a_case_and_the_leader_sees_it(client, world):
    created = await client.post("/cases", json=case_payload(world.grid_a), headers=world.auth("grid_worker"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "registered"
    listed = await client.get("/cases", headers=world.auth("leader"))
    assert [item["id"] for item in listed.json()["items"]] == [body["id"]]


async def test_each_test_starts_from_an_empty_case_table(client, world):
    listed = await client.get("/cases", headers=world.auth("county"))
    assert listed.json()["items"] == []
