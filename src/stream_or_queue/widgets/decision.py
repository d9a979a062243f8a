"""DecisionGuide: the four questions as a form that explains its answer."""

from __future__ import annotations

import html

import ipywidgets as widgets

from ..choose import PATTERN_NOTES, Decision, Feature, decide
from ._static import LiveForm

__all__ = ["DecisionGuide"]


class DecisionGuide(LiveForm, widgets.VBox):
    """Answer the questions; the pattern and the reasons update as you go.

    Every control is a public attribute, so a test (or a notebook cell) can set
    values and read `decision` and `answer.value` without a browser. Its saved form
    (`LiveForm`) lists the answers given and the advice they led to.
    """

    static_name = "DecisionGuide"

    def __init__(self) -> None:
        style = {"description_width": "initial"}

        # a checkbox's label is cut at the default description width: let it take its length
        def wide() -> dict[str, object]:
            return {"indent": False, "layout": widgets.Layout(width="auto")}

        self.name = widgets.Text(value="my AI feature", description="Feature", style=style)
        self.user_waiting = widgets.Checkbox(
            value=True, description="Is the user actively waiting?", **wide()
        )
        self.expected_seconds = widgets.BoundedFloatText(
            value=5.0,
            min=0.0,
            max=10_000_000.0,
            step=1.0,
            description="Expected duration (s)",
            style=style,
            continuous_update=True,
        )
        self.needs_durability = widgets.Checkbox(
            description="Must it survive a crash or deploy?", **wide()
        )
        self.batch_savings = widgets.Checkbox(
            description="Would batch pricing save serious money?", **wide()
        )
        self.conversational = widgets.Checkbox(
            description="Does the next message depend on it?", **wide()
        )
        self.realtime = widgets.Checkbox(description="Hard latency budget?", **wide())
        self.latency_budget_ms = widgets.BoundedFloatText(
            value=100.0,
            min=1.0,
            max=60_000.0,
            description="Budget (ms)",
            style=style,
            continuous_update=True,
        )
        self.regulatory = widgets.Checkbox(
            description="Must a rule get a synchronous acknowledgement?", **wide()
        )
        self.items = widgets.BoundedIntText(
            value=1,
            min=1,
            max=10_000_000_000,
            description="Items per run",
            style=style,
            continuous_update=True,
        )
        self.recurring = widgets.Checkbox(description="Does it run on a schedule?", **wide())
        self.answer = widgets.HTML()
        controls = [
            self.name,
            self.user_waiting,
            self.expected_seconds,
            self.needs_durability,
            self.batch_savings,
            self.conversational,
            widgets.HBox([self.realtime, self.latency_budget_ms]),
            self.regulatory,
            self.items,
            self.recurring,
        ]
        super().__init__([*controls, self.answer])
        # stable hooks for browser tests and custom CSS
        self.add_class("soq-decision")
        self.answer.add_class("soq-decision-answer")
        self.user_waiting.add_class("soq-decision-waiting")
        self.items.add_class("soq-decision-items")
        self.recurring.add_class("soq-decision-recurring")
        for control in (
            self.name,
            self.user_waiting,
            self.expected_seconds,
            self.needs_durability,
            self.batch_savings,
            self.conversational,
            self.realtime,
            self.latency_budget_ms,
            self.regulatory,
            self.items,
            self.recurring,
        ):
            control.observe(self._update, names="value")
        self.decision: Decision | None = None
        self._update()

    def feature(self) -> Feature:
        return Feature(
            name=self.name.value.strip() or "my AI feature",
            user_waiting=self.user_waiting.value,
            expected_seconds=float(self.expected_seconds.value),
            needs_durability=self.needs_durability.value,
            batch_savings_matter=self.batch_savings.value,
            conversational=self.conversational.value,
            latency_budget_ms=float(self.latency_budget_ms.value) if self.realtime.value else None,
            regulatory_sync_ack=self.regulatory.value,
            items=int(self.items.value),
            recurring=self.recurring.value,
        )

    def _update(self, _change: object = None) -> None:
        try:
            feature = self.feature()
        except ValueError as error:  # the bounded controls make this rare; say what is wrong
            self.decision = None
            self.answer.value = f"<b>Check your answers:</b> {html.escape(str(error))}"
            return
        decision = decide(feature)
        self.decision = decision
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in decision.reasons)
        advice = "".join(f"<li><i>{html.escape(a)}</i></li>" for a in decision.advice)
        self.answer.value = (
            f"<h4>{html.escape(feature.name)} &rarr; {html.escape(str(decision.pattern))}</h4>"
            f"<p>{html.escape(PATTERN_NOTES[decision.pattern])}</p>"
            f"<ul>{reasons}{advice}</ul>"
        )

    def _answers(self) -> list[tuple[str, str]]:
        """(question, answer) for each control, as the form shows them."""

        def yes(box: widgets.Checkbox) -> str:
            return "yes" if box.value else "no"

        budget = f"yes, {self.latency_budget_ms.value:g} ms" if self.realtime.value else "no"
        return [
            (self.name.description, self.name.value),
            (self.user_waiting.description, yes(self.user_waiting)),
            (self.expected_seconds.description, f"{self.expected_seconds.value:g}"),
            (self.needs_durability.description, yes(self.needs_durability)),
            (self.batch_savings.description, yes(self.batch_savings)),
            (self.conversational.description, yes(self.conversational)),
            (self.realtime.description, budget),
            (self.regulatory.description, yes(self.regulatory)),
            (self.items.description, f"{self.items.value:,}"),
            (self.recurring.description, yes(self.recurring)),
        ]

    def static_text(self) -> str:
        lines = [f"  {question} {answer}" for question, answer in self._answers()]
        decision = self.decision
        if decision is None:
            return "\n".join([*lines, "(no answer: check the values above)"])
        lines.append(f"-> {decision.pattern}: {PATTERN_NOTES[decision.pattern]}")
        lines += [f"  - {line}" for line in (*decision.reasons, *decision.advice)]
        return "\n".join(lines)

    def static_html(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(question)}</td><td><b>{html.escape(answer)}</b></td></tr>"
            for question, answer in self._answers()
        )
        return f"<table>{rows}</table>{self.answer.value}"

    def __repr__(self) -> str:
        pattern = self.decision.pattern if self.decision else "?"
        return f"DecisionGuide(pattern={str(pattern)!r})"
