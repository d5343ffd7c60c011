"""Queue definitions: loading, validation, escalation timing, the default set."""

from __future__ import annotations

import pytest

from line311.routing.errors import RoutingConfigError, UnknownQueueError
from line311.routing.queues import (
    DEFAULT_QUEUES,
    EscalationStep,
    default_queues,
    load_queues,
    load_queues_yaml,
)
from line311.routing.skills import Requirements

YAML = """
queues:
  general:
    requires: topic:general
  housing:
    requires: topic:housing>=3
    max_length: 50
    max_wait: 900
    wrapup_seconds: 45
    strategy: fewest_calls
    overflow: general
    escalation:
      - {after: 30, min_proficiency: 1}
      - {after: 60, add_queues: [general], interpreter: true}
"""


def test_yaml_queues_load_with_defaults_and_steps():
    qs = load_queues_yaml(YAML)
    housing = qs["housing"]
    assert housing.requires == Requirements.parse("topic:housing>=3")
    # unset: the center's sl_threshold / sl_goal settings apply (issue 16: per-queue SL honoured)
    assert (housing.sl_threshold, housing.sl_goal) == (None, None)
    assert housing.escalation == (
        EscalationStep(after=30, min_proficiency=1),
        EscalationStep(after=60, add_queues=("general",), interpreter=True),
    )
    assert [housing.steps_at(t) for t in (0, 29.9, 30, 59, 60, 1e6)] == [0, 0, 1, 1, 2, 2]
    assert housing.next_step_at(100.0, 0) == 130.0
    assert housing.next_step_at(100.0, 2) is None
    assert list(qs) == ["general", "housing"]
    assert len(qs) == 2
    assert "general" in qs
    with pytest.raises(UnknownQueueError):
        qs["nope"]


def test_the_default_nyc_like_set_loads():
    qs = default_queues()
    assert (
        set(qs)
        == set(DEFAULT_QUEUES)
        >= {
            "general",
            "housing",
            "sanitation",
            "noise",
            "parking",
            "social_services",
        }
    )
    assert qs["social_services"].priority == 1


def test_a_list_of_queues_with_names_and_a_requirements_mapping_loads():
    qs = load_queues([{"name": "g", "requires": {"topic:general": 2}}])
    assert str(qs["g"].requires) == "topic:general>=2"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"g": {"colour": "red"}}, r"queue 'g': unknown keys \['colour'\]"),
        ({"g": {"sl_goal": 1.5}}, "sl_goal"),
        ({"g": {"sl_threshold": 0}}, "sl_threshold"),
        ({"g": {"sl_threshold": "30"}}, "must be a number"),
        ({"g": {"max_length": 0}}, "max_length"),
        ({"g": {"max_length": 2.5}}, "must be an integer"),
        ({"g": {"max_wait": -1}}, "max_wait"),
        ({"g": {"wrapup_seconds": -1}}, "wrapup"),
        ({"g": {"default_handle_time": 0}}, "default_handle_time"),
        ({"g": {"language_min_proficiency": 6}}, "language_min_proficiency"),
        ({"g": {"overflow": "h"}}, "unknown queue 'h'"),
        ({"g": {"overflow": "h"}, "h": {"overflow": "g"}}, "loops back"),
        ({"g": {"requires": 5}}, "requires must be"),
        ({"g": {"requires": "topic:general>=9"}}, "proficiency"),
        ({"g": {"escalation": {"after": 1}}}, "list of steps"),
        ({"g": {"escalation": [{"min_proficiency": 1}]}}, "missing 'after'"),
        ({"g": {"escalation": [{"after": 1, "colour": 1}]}}, "unknown keys"),
        ({"g": {"escalation": [{"after": 1}]}}, "widens nothing"),
        ({"g": {"escalation": [{"after": 1, "add_queues": ["x"]}]}}, "unknown queue 'x'"),
        ({"g": {"escalation": [{"after": 1, "add_queues": "g"}]}}, "the queue itself"),
        ({"g": {"escalation": [{"after": 1, "add_queues": [1]}]}}, "list of queue names"),
        ({"g": {"escalation": [{"after": 1, "interpreter": "yes"}]}}, "true or false"),
        ({"g": {"escalation": [{"after": 1, "min_proficiency": 0}]}}, "min_proficiency"),
        ({"g": {"escalation": ["x"]}}, "must be a mapping"),
        (
            {
                "g": {
                    "escalation": [
                        {"after": 9, "interpreter": True},
                        {"after": 1, "interpreter": True},
                    ]
                }
            },
            "increasing",
        ),
        ({"g": {"interpreter_when_unstaffed": 1}}, "true or false"),
        ({"g": {"strategy": 3}}, "must be a string"),
        ({"g": "general"}, "must be a mapping"),
        ({}, "no queues"),
        ([{"requires": "x"}], "with a 'name'"),
        ("queues", "mapping or a list"),
        ({"bad name!": {}}, "name must be"),
        # names a call record could not carry (the CRM bridge would refuse every record)
        ({"_bürger": {}}, "name must be"),
        ({"bürger": {}}, "name must be"),
        ({"-general": {}}, "name must be"),
        ({"q" * 65: {}}, "name must be"),
    ],
)
def test_bad_definitions_are_refused_naming_the_problem(data, message):
    with pytest.raises(RoutingConfigError, match=message):
        load_queues(data)


def test_a_queue_defined_twice_or_bad_yaml_is_refused():
    with pytest.raises(RoutingConfigError, match="defined twice"):
        load_queues([{"name": "g"}, {"name": "g"}])
    with pytest.raises(RoutingConfigError, match="not valid YAML"):
        load_queues_yaml("queues: [")
