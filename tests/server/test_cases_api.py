import json
from tests.factories import case_payload, party


async def test_probe(client, world):
    p = case_payload(world.grid_a)
    del p["title"]
    r = await client.post("/cases", json=p)
    print(r.status_code, r.text)
    r = await client.post("/cases", content=b"{not json", headers={"content-type": "application/json"})
    print(r.status_code, r.text)
    r = await client.post("/cases", content=b"{not json", headers={"content-type": "application/json", **world.auth("leader")})
    print(r.status_code, r.text)
    r = await client.get("/cases?limit=0")
    print(r.status_code, r.text)
    r = await client.post("/auth/logout")
    print(r.status_code, r.text)
    r = await client.get("/health/")
    print(r.status_code, r.text)
    assert 0
