"""Picture errands: a task's pictures reach the model through `build_request` (OCR for a model
that reads text, image parts for one that sees), and a replay fails a picture it cannot read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from errand.config import Settings
from errand.eval.builtin import BuiltinEnvironment
from errand.eval.pictures import render
from errand.eval.tasks import Picture, Task
from errand.llm.ocr import read_image
from errand.llm.scripted import ScriptedModel, call
from errand.llm.types import ImagePart, Message, ModelEvent, ModelSettings, ToolSpec
from tests.eval.conftest import attempt, make_task

TRAIN = Picture(
    kind="screenshot",
    title="Shanghai - Hangzhou",
    lines=["G16 | Second class", "2026-12-05  07:50 - 08:45", "107.00 CNY"],
    shows=["G16", "107.00"],
)
SEARCH = call("search_trains", origin="Shanghai", destination="Hangzhou", date="2026-12-05")


def _task(picture: Picture) -> Task:
    return make_task(
        id="pic-train",
        request="how many seats are left on this train?",
        images=[picture.model_dump()],
        checks={"answer": [{"number": 203}]},
        reference=[
            {"call": "search_trains", "args": SEARCH.arguments},
            {"answer": "G16 has 203 second-class seats left, at 107.00 CNY."},
        ],
    )


class _Recording(ScriptedModel):
    """A scripted model that keeps the request as its tool-calling steps are sent it."""

    first_user: Message | None = None

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> AsyncIterator[ModelEvent]:
        if self.first_user is None and tools:  # a step that may call tools, not the plan
            self.first_user = next((m for m in messages if m.role == "user"), None)
        async for ev in super().stream(messages, tools, settings):
            yield ev


def test_a_pictures_text_read_by_ocr_reaches_the_model(env: BuiltinEnvironment) -> None:
    model = _Recording([SEARCH, "G16 has 203 seats left."])
    a = attempt(_task(TRAIN), env, model)
    assert a.passed, (a.failure, a.failed_checks)
    assert model.first_user is not None
    text = model.first_user.text
    assert "[Image 1, text read by OCR:" in text
    assert "G16" in text and "107.00" in text
    assert not any(isinstance(p, ImagePart) for p in model.first_user.content or ())
    assert "107.00" in a.transcript[0]["user"]  # the report shows what the model was given


def test_a_model_that_sees_images_gets_the_picture_itself(env: BuiltinEnvironment) -> None:
    model = _Recording([SEARCH, "G16 has 203 seats left."])
    settings = Settings.model_construct(model_accepts_images=True)
    a = attempt(_task(TRAIN), env, model, settings=settings)
    assert a.failure is None
    assert model.first_user is not None
    parts = [p for p in model.first_user.content or () if isinstance(p, ImagePart)]
    assert len(parts) == 1 and parts[0].url.startswith("data:image/png;base64,")
    assert "text read by OCR" not in model.first_user.text


def test_a_replay_fails_a_picture_whose_facts_ocr_cannot_read(env: BuiltinEnvironment) -> None:
    unreadable = TRAIN.model_copy(update={"shows": ["G16", "G1234"]})  # G1234 is not drawn
    task = _task(unreadable)
    a = attempt(task, env, ScriptedModel([SEARCH, task.reference[-1].answer or ""]), replay=True)
    assert not a.passed
    assert [c.name for c in a.failed_checks] == ["picture 1 reads 'G1234'"]


def test_a_picture_is_drawn_the_same_every_time() -> None:
    noisy = TRAIN.model_copy(update={"angle": 2.0, "noise": 0.02})
    assert render(noisy) == render(noisy)
    assert render(noisy) != render(TRAIN)
    assert render(TRAIN).startswith(b"\x89PNG")


def test_a_picture_in_chinese_is_drawn_in_glyphs_ocr_reads() -> None:
    """The packaged font draws Chinese; Pillow's own font would draw empty boxes."""
    menu = Picture(
        kind="menu",
        title="今日菜单 SZ-R023",
        lines=["白切鸡 | 83.00", "蜜汁叉烧 | 72.00"],
        angle=1.5,
        noise=0.02,
        shows=["今日菜单", "白切鸡", "83.00", "蜜汁叉烧"],
    )
    text = read_image(render(menu)).text.replace(" ", "")
    for fact in menu.shows:
        assert fact in text, text
