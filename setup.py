"""Build hook for the optional native row scanner (losswatch/ingest/_rowscan.c).

Everything else is in pyproject.toml. The extension is optional: where no C compiler or Python
headers are found, the install goes on without it and the parsers use their pure-Python path
(the same samples, only slower). `python3 -m losswatch formats` says which is in use.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "losswatch.ingest._rowscan",
            ["losswatch/ingest/_rowscan.c"],
            optional=True,
        )
    ]
)
