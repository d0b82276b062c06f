import uuid

import pytest
from pydantic import ValidationError

from sync.protocol import Mutation, SyncRequest, mutation_digest, plan_outbox


def mutation(seq: int, **overrides) -> Mutation:
    body = {"seq": seq, "id": str(uuid.uuid4()), "type": "transition", "case_id": str(uuid.uuid4())}
    body.update(overrides)
    return Mutation.model_validate(body)


def test_should_split_an_outbox_into_replays_and_new_mutations():
    outbox = [mutation(seq) for seq in (3, 4, 5, 6)]
    plan = plan_outbox(4, outbox)
    assert [m.seq for m in plan.replays] == [3, 4]
    assert [m.seq for m in plan.new] == [5, 6]
    assert plan.gap_expected is None


def test_should_flag_a_gap_when_the_first_new_mutation_skips_a_number():
    plan = plan_outbox(4, [mutation(6), mutation(7)])
    assert plan.gap_expected == 5


def test_an_outbox_of_only_replays_has_no_gap():
    assert plan_outbox(9, [mutation(1), mutation(2)]).gap_expected is None


def test_should_refuse_an_outbox_that_is_not_numbered_consecutively():
    with pytest.raises(ValidationError, match="seq"):
        SyncRequest(protocol=1, app_version="1", device_id=uuid.uuid4(), outbox=[mutation(1), mutation(3)])


def test_the_digest_ignores_the_device_clock_but_not_the_content():
    first = mutation(1, data={"action": "record_visit"}, device_time="2026-03-02T10:00:00+08:00")
    same = first.model_copy(update={"device_time": None})
    other = first.model_copy(update={"data": {"action": "add_note"}})
    assert mutation_digest(first) == mutation_digest(same)
    assert mutation_digest(first) != mutation_digest(other)
