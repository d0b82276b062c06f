import json
from tests.factories import case_payload, party


async def test_probe(client, world):
    h = world.auth("leader")
    p = case_payload(world.grid_a)
    del p["title"]
    p["kind"] = "bogus"
    r = await client.post("/cases", json=p, headers=h)
    print(r.status_code, r.headers, r.text)
    r = await client.get("/cases?limit=0", headers=h)
    print(r.status_code, r.text)
    r = await client.post("/auth/login", json={"username": "leader", "password": "correct horse battery"})
    print(r.status_code, r.text[:300])
    r = await client.post("/cases/" + "0"*8 + "-0000-0000-0000-" + "0"*12 + "/identity", json={}, headers=h)
    print(r.status_code, r.text[:300])
    r = await client.get("/cases/not-a-uuid", headers=h)
    print(r.status_code, r.text[:300])
    r = await client.get("/cases", headers={"Authorization": "Bearer nope"})
    print(r.status_code, r.headers, r.text[:300])
    r = await client.get("http://testserver.local/schema/openapi.json")
    print(r.status_code, list(r.json()["paths"]))
    assert 0
