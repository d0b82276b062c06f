"""The division hierarchy: parsing the official files, materialised paths, subtree ranges."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid.errors import DomainError
from grid.hierarchy import (
    PATH_SEPARATOR,
    DivisionRow,
    Level,
    child_path,
    codes_on_path,
    compute_paths,
    covers,
    grid_code,
    parse_division_csv,
    subtree_bounds,
)

DIVISIONS = Path(__file__).resolve().parents[3] / "shared" / "data" / "divisions"
HEADER = "code,name,level,parent_code,urban_rural_code\n"
ZHASHUI_COUNTY = "611026000000"
SHANGLUO_CITY = "611000000000"


def read(name: str) -> str:
    return (DIVISIONS / f"{name}.csv").read_text(encoding="utf-8")


def invalid_file(text: str) -> DomainError:
    with pytest.raises(DomainError) as caught:
        parse_division_csv(text)
    assert caught.value.code == "regions.invalid_file"
    return caught.value


# --- parse_division_csv ----------------------------------------------------------------------


def test_should_parse_zhashui_into_one_county_nine_townships_and_82_villages() -> None:
    rows = parse_division_csv(read("zhashui"))
    assert len(rows) == 92
    assert Counter(row.level for row in rows) == {Level.COUNTY: 1, Level.TOWNSHIP: 9, Level.VILLAGE: 82}
    assert rows[0] == DivisionRow(ZHASHUI_COUNTY, "柞水县", Level.COUNTY, SHANGLUO_CITY)


def test_should_accept_the_empty_urban_rural_code_of_every_real_row() -> None:
    text = read("zhashui")
    assert all(line.endswith(",") for line in text.splitlines()[1:]), "the data carries no urban_rural_code"
    assert len(parse_division_csv(text)) == 92


@pytest.mark.parametrize(
    ("name", "levels"),
    [
        ("shangluo", {Level.CITY: 1, Level.COUNTY: 7, Level.TOWNSHIP: 110, Level.VILLAGE: 1314}),
        (
            "shaanxi",
            {Level.PROVINCE: 1, Level.CITY: 10, Level.COUNTY: 107, Level.TOWNSHIP: 1335, Level.VILLAGE: 20356},
        ),
    ],
)
def test_should_parse_the_larger_files_with_every_level(name: str, levels: dict[Level, int]) -> None:
    rows = parse_division_csv(read(name))
    assert Counter(row.level for row in rows) == levels


def test_should_keep_codes_and_names_exactly_as_given() -> None:
    text = HEADER + "0012345,  零号村 ,village,0012,\n"
    (row,) = parse_division_csv(text)
    assert row.code == "0012345"  # a string, leading zeros kept
    assert row.parent_code == "0012"
    assert row.name == "零号村"


def test_should_accept_a_byte_order_mark() -> None:
    text = "\ufeff" + read("zhashui")
    rows = parse_division_csv(text)
    assert len(rows) == 92
    assert rows[0].code == ZHASHUI_COUNTY


def test_should_accept_a_file_without_the_urban_rural_column() -> None:
    rows = parse_division_csv("code,name,level,parent_code\n611026000000,柞水县,county,611000000000\n")
    assert rows == [DivisionRow(ZHASHUI_COUNTY, "柞水县", Level.COUNTY, SHANGLUO_CITY)]


def test_should_read_an_empty_parent_as_no_parent() -> None:
    (row,) = parse_division_csv(HEADER + "610000000000,陕西省,province,,\n")
    assert row.parent_code is None


def test_should_refuse_a_missing_header_naming_the_first_line() -> None:
    error = invalid_file("611026000000,柞水县,county,611000000000,\n")
    assert "第 1 行" in error.message
    assert "parent_code" in error.message


def test_should_refuse_a_header_without_the_level_column() -> None:
    error = invalid_file("code,name,parent_code\n611026000000,柞水县,611000000000\n")
    assert "level" in error.message


def test_should_refuse_an_empty_file() -> None:
    invalid_file("")


def test_should_refuse_an_unknown_level_naming_its_line() -> None:
    text = HEADER + "611026000000,柞水县,county,611000000000,\n611026001000,乾佑街道,town,611026000000,\n"
    error = invalid_file(text)
    assert "第 3 行" in error.message
    assert "town" in error.message


def test_should_refuse_grids_in_a_division_file() -> None:
    error = invalid_file(HEADER + "611026001001001,第一网格,grid,611026001001,\n")
    assert "第 2 行" in error.message


def test_should_refuse_a_duplicate_code_naming_the_second_line() -> None:
    text = (
        HEADER
        + "611026000000,柞水县,county,611000000000,\n"
        + "611026001000,乾佑街道,township,611026000000,\n"
        + "611026001000,乾佑街道,township,611026000000,\n"
    )
    error = invalid_file(text)
    assert "第 4 行" in error.message
    assert "611026001000" in error.message


def test_should_name_the_physical_line_even_after_a_blank_line() -> None:
    text = HEADER + "611026000000,柞水县,county,611000000000,\n\n611026001000,乾佑街道,town,611026000000,\n"
    assert "第 4 行" in invalid_file(text).message


@pytest.mark.parametrize(
    "line",
    ["61102600A000,柞水县,county,611000000000,", ",柞水县,county,611000000000,", "611026000000,,county,,"],
)
def test_should_refuse_a_bad_code_or_an_empty_name(line: str) -> None:
    assert "第 2 行" in invalid_file(HEADER + line + "\n").message


def test_should_report_the_line_of_a_bad_row_in_the_real_file() -> None:
    lines = read("zhashui").splitlines()
    lines[50] = lines[50].replace(",village,", ",hamlet,")
    assert "第 51 行" in invalid_file("\n".join(lines) + "\n").message


# --- compute_paths ---------------------------------------------------------------------------


def test_should_root_a_file_at_its_top_row_when_the_parent_is_outside_the_file() -> None:
    rows = parse_division_csv(read("zhashui"))
    paths = compute_paths(rows)
    assert paths[ZHASHUI_COUNTY] == "/611026000000/"
    assert paths["611026001000"] == "/611026000000/611026001000/"
    assert paths["611026001001"] == "/611026000000/611026001000/611026001001/"
    assert set(paths) == {row.code for row in rows}
    by_code = {row.code: row for row in rows}
    for code, path in paths.items():
        assert codes_on_path(path)[-1] == code
        parent = by_code[code].parent_code
        if parent in paths:
            assert path == child_path(paths[parent], code)


def test_should_hang_a_file_under_the_known_path_of_a_stored_parent() -> None:
    rows = parse_division_csv(read("zhashui"))
    paths = compute_paths(rows, {SHANGLUO_CITY: "/610000000000/611000000000/"})
    assert paths[ZHASHUI_COUNTY] == "/610000000000/611000000000/611026000000/"
    assert paths["611026110221"] == "/610000000000/611000000000/611026000000/611026110000/611026110221/"


def test_should_prefer_the_file_to_a_stored_path_of_a_row_in_the_file() -> None:
    rows = parse_division_csv(read("shangluo"))
    stale = {ZHASHUI_COUNTY: "/611026000000/", SHANGLUO_CITY: "/611000000000/"}
    paths = compute_paths(rows, stale | {"610000000000": "/610000000000/"})
    assert paths[ZHASHUI_COUNTY] == "/610000000000/611000000000/611026000000/"


def test_should_give_every_row_of_the_province_a_path_that_ends_in_its_code() -> None:
    rows = parse_division_csv(read("shaanxi"))
    paths = compute_paths(rows)
    depth = {Level.PROVINCE: 1, Level.CITY: 2, Level.COUNTY: 3, Level.TOWNSHIP: 4, Level.VILLAGE: 5}
    for row in rows:
        codes = codes_on_path(paths[row.code])
        assert codes[-1] == row.code
        assert len(codes) == depth[row.level], row
        assert codes[0] == "610000000000"


def test_should_be_independent_of_row_order() -> None:
    rows = parse_division_csv(read("shangluo"))
    assert compute_paths(list(reversed(rows))) == compute_paths(rows)


def test_should_refuse_a_cycle() -> None:
    rows = [
        DivisionRow("1", "甲", Level.TOWNSHIP, "2"),
        DivisionRow("2", "乙", Level.TOWNSHIP, "1"),
    ]
    with pytest.raises(DomainError) as caught:
        compute_paths(rows)
    assert caught.value.code == "regions.invalid_file"


def test_should_refuse_a_row_that_is_its_own_parent() -> None:
    with pytest.raises(DomainError) as caught:
        compute_paths([DivisionRow("1", "甲", Level.COUNTY, "1")])
    assert caught.value.code == "regions.invalid_file"


def test_should_refuse_a_longer_cycle_below_a_valid_root() -> None:
    rows = [
        DivisionRow("9", "根", Level.PROVINCE, None),
        DivisionRow("1", "甲", Level.CITY, "3"),
        DivisionRow("2", "乙", Level.COUNTY, "1"),
        DivisionRow("3", "丙", Level.TOWNSHIP, "2"),
    ]
    with pytest.raises(DomainError):
        compute_paths(rows)


# --- subtree bounds and covers ---------------------------------------------------------------


def in_bounds(scope: str, path: str) -> bool:
    low, high = subtree_bounds(scope)
    return low <= path < high


def test_should_bound_every_descendant_of_a_township_in_zhashui() -> None:
    paths = compute_paths(parse_division_csv(read("zhashui")))
    township = paths["611026001000"]
    inside = {code for code, path in paths.items() if in_bounds(township, path)}
    assert inside == {code for code, path in paths.items() if path.startswith(township)}
    assert "611026001000" in inside
    assert ZHASHUI_COUNTY not in inside
    assert len(inside) == 1 + sum(1 for code in paths if code.startswith("611026001") and code != "611026001000")


def test_should_exclude_siblings_whose_code_shares_a_prefix() -> None:
    scope = "/611026001/"
    below = ["/611026001/", "/611026001/611026001001/", "/611026001/611026001001/611026001001001/"]
    beside = ["/6110260010/", "/6110260010/611/", "/6110260011/", "/61102600/", "/611026002/", "/611026000/"]
    for path in below:
        assert in_bounds(scope, path) and covers(scope, path), path
    for path in beside:
        assert not in_bounds(scope, path) and not covers(scope, path), path


def test_should_not_let_a_grid_code_leak_into_a_sibling_village() -> None:
    # A grid code is its village's code plus three digits: the separator keeps them apart.
    village = child_path("/611026000000/611026001000/", "611026001001")
    sibling_like = child_path("/611026000000/611026001000/", "611026001001001")
    grid = child_path(village, grid_code("611026001001", 1))
    assert in_bounds(village, grid)
    assert not in_bounds(village, sibling_like)


path_codes = st.lists(st.text(alphabet="0123456789", min_size=1, max_size=4), min_size=1, max_size=4)


@given(scope=path_codes, other=path_codes)
def test_bounds_agree_with_covers_for_any_two_paths(scope: list[str], other: list[str]) -> None:
    scope_path = PATH_SEPARATOR + PATH_SEPARATOR.join(scope) + PATH_SEPARATOR
    other_path = PATH_SEPARATOR + PATH_SEPARATOR.join(other) + PATH_SEPARATOR
    assert in_bounds(scope_path, other_path) == covers(scope_path, other_path)
    assert covers(scope_path, other_path) == (other[: len(scope)] == scope)


def test_codes_on_path_round_trips_child_path() -> None:
    path = None
    for code in ("610000000000", "611000000000", "611026000000"):
        path = child_path(path, code)
    assert path == "/610000000000/611000000000/611026000000/"
    assert codes_on_path(path) == ["610000000000", "611000000000", "611026000000"]


# --- grid codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "code"), [(1, "611026001001001"), (2, "611026001001002"), (999, "611026001001999")])
def test_should_append_a_three_digit_serial_to_the_village_code(number: int, code: str) -> None:
    assert grid_code("611026001001", number) == code


@pytest.mark.parametrize("number", [0, -1, 1000])
def test_should_refuse_a_grid_serial_outside_1_to_999(number: int) -> None:
    with pytest.raises(DomainError) as caught:
        grid_code("611026001001", number)
    assert caught.value.code == "regions.invalid_grid"
