import time
from grid.hierarchy import parse_division_csv
from server.services.regions import RegionService
from tests.conftest import DIVISIONS

async def test_time(context, backend):
    rows = parse_division_csv((DIVISIONS / "shaanxi.csv").read_text(encoding="utf-8"))
    service = RegionService(context)
    t = time.perf_counter()
    r = await service.import_divisions(rows, valid_from_year=2023)
    t1 = time.perf_counter()
    r2 = await service.import_divisions(rows, valid_from_year=2023)
    t2 = time.perf_counter()
    print(backend.name, r, r2, f"first {t1-t:.2f}s second {t2-t1:.2f}s")
