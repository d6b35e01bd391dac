"""The raw log pane (toggle): the tail of the file as written, refreshed only while visible."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from losswatch.tui.log_lines import tail_lines


class LogPane(Widget):
    def __init__(self, path: str, **kw) -> None:
        super().__init__(**kw)
        self.path = path
        self._lines: list[str] = []

    def data_changed(self) -> None:
        if self.display:
            self._lines = tail_lines(self.path, max(1, self.size.height or 10))
            self.refresh()

    def on_show(self) -> None:
        self.data_changed()

    def on_resize(self) -> None:
        self.data_changed()

    def render(self) -> Text:
        if not self._lines:
            return Text("(log is empty)", style="dim")
        return Text("\n".join(self._lines[-max(1, self.size.height):]), no_wrap=True, overflow="crop")
