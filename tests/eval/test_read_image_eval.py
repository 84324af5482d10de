"""A picture errand's pictures go to the agent as attachments, so ``read_image`` is offered there."""

from __future__ import annotations

from errand.config import Settings
from errand.eval.builtin import BuiltinEnvironment
from errand.eval.tasks import Picture, Task
from errand.llm.scripted import ScriptedModel, call
from tests.eval.conftest import attempt, make_task

TRAIN = Picture(
    kind="screenshot",
    title="Shanghai - Hangzhou",
    lines=["G16 | Second class", "2026-12-05  07:50 - 08:45", "107.00 CNY"],
    shows=["G16", "107.00"],
)
SEARCH = call("search_trains", origin="Shanghai", destination="Hangzhou", date="2026-12-05")


def _task() -> Task:
    return make_task(
        id="pic-train-again",
        request="how many seats are left on this train?",
        images=[TRAIN.model_dump()],
        checks={"answer": [{"number": 203}]},
        reference=[
            {"call": "search_trains", "args": SEARCH.arguments},
            {"answer": "G16 has 203 second-class seats left, at 107.00 CNY."},
        ],
    )


def test_a_picture_errand_can_read_its_picture_again(env: BuiltinEnvironment) -> None:
    read = call("read_image", image=1, region="top")
    model = ScriptedModel([read, SEARCH, "G16 has 203 seats left."])
    a = attempt(_task(), env, model)
    assert a.passed, (a.failure, a.failed_checks)
    offered = next(tools for _, tools in model.requests if tools)
    assert "read_image" in [t.name for t in offered]
    messages, _ = model.requests[-1]
    again = next(m for m in messages if m.role == "tool" and m.name == "read_image")
    assert again.text.startswith("[Image 1, top half, read again by OCR:") and "G16" in again.text


def test_a_model_that_sees_the_picture_is_not_offered_read_image(env: BuiltinEnvironment) -> None:
    model = ScriptedModel([SEARCH, "G16 has 203 seats left."])
    attempt(_task(), env, model, settings=Settings.model_construct(model_accepts_images=True))
    assert all("read_image" not in [t.name for t in tools] for _, tools in model.requests)
