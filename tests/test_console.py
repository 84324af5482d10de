"""What the terminal shows: text from tools and errors is shown as written, never read as markup."""

from __future__ import annotations

from rich.console import Console

from errand.agent.events import ConfirmationRequired, RunFailed
from errand.cli.console import RunRenderer


def test_square_brackets_in_a_confirmation_and_a_failure_are_shown() -> None:
    console = Console(record=True, width=200, force_terminal=False)
    renderer = RunRenderer(console)
    summary = "buy_product({'variant_id': 'V-9'}) [could not describe: Bad variant id V-9]"
    renderer.render(
        ConfirmationRequired(
            run_id="r",
            seq=1,
            step=1,
            call_id="c",
            name="buy_product",
            risk="payment",
            summary=summary,
            arguments={},
        )
    )
    renderer.render(
        RunFailed(run_id="r", seq=2, reason="stopped [bold]here[/bold] at [step 3]", kind="error")
    )
    shown = console.export_text()
    assert "[could not describe: Bad variant id V-9]" in shown
    assert "[bold]here[/bold] at [step 3]" in shown
