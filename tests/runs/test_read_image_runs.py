"""A durable run keeps its images as attachments, so ``read_image`` reads them in whichever
process executes the run (a worker after the server queued it, or after a restart)."""

from __future__ import annotations

from collections.abc import Callable

from errand.config import Settings
from errand.llm.ocr import data_url
from errand.llm.scripted import ScriptedModel, call
from errand.runs import Runs, RunStatus
from tests.images import text_image

RECEIPT = ["Receipt FO-000123", "", "", "", "Total: 128.50 CNY"]


async def test_a_queued_run_reads_its_image_again_in_the_process_that_runs_it(
    make_settings: Callable[..., Settings],
) -> None:
    receipt = data_url(text_image(RECEIPT))
    settings = make_settings()
    runs = await Runs.open(settings, execute=False)  # the server: it queues, a worker runs
    try:
        rec = await runs.create("dave", "what is the total?", images=[receipt])
        options = await runs.options("dave", rec.id)
        assert options["attachments"] == [receipt] and options["images"] == []
        assert (await runs.get("dave", rec.id)).status == RunStatus.queued
    finally:
        runs.close()
    script = [call("read_image", image=1, region="bottom"), "The total is 128.50 CNY."]
    model = ScriptedModel(script, per_conversation=True)
    runs = await Runs.open(settings, model=model)  # a new process takes the run from the queue
    try:
        done = await runs.wait("dave", rec.id, timeout_s=60)
        assert done.status == RunStatus.succeeded, done.error
        assert done.answer == "The total is 128.50 CNY."
        assert "read_image" in [t.name for t in model.requests[-1][1]]
        results = [e.data for e in await runs.events("dave", rec.id) if e.type == "tool_result"]
        assert len(results) == 1 and results[0]["ok"], results
        assert results[0]["content"].startswith("[Image 1, bottom half, read again by OCR:")
        assert "128.50" in results[0]["content"]
    finally:
        runs.close()


async def test_a_run_for_a_model_that_reads_images_keeps_no_attachments(
    make_settings: Callable[..., Settings],
) -> None:
    receipt = data_url(text_image(["Total: 128.50 CNY"]))
    runs = await Runs.open(make_settings(model_accepts_images=True), execute=False)
    try:
        rec = await runs.create("dave", "what is the total?", images=[receipt])
        options = await runs.options("dave", rec.id)
        assert options["images"] == [receipt] and "attachments" not in options
    finally:
        runs.close()
