"""User mistakes: one clear message naming the file (and line), exit code 2, no traceback."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user (missing file, bad rule file, unknown format...).

    `str()` is the whole message, starting with the file and line where there is one.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None, column: int | None = None):
        where = ""
        if path:
            where = path
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line
        self.column = column
