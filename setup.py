"""Build hook for the optional native parts: the row scanner (losswatch/ingest/_rowscan.c) and the
engine's catch-up loops (losswatch/engine/_kernels.c).

Everything else is in pyproject.toml. Both extensions are optional: where no C compiler or Python
headers are found, the install goes on without them and losswatch runs the same Python code (the
same samples and alerts, only slower). `python3 -m losswatch formats` says which is in use.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """No fused multiply-add: the kernels must round each operation as Python does (GCC contracts
    a * b + c by default where the CPU has FMA, e.g. on every aarch64)."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args = [*ext.extra_compile_args, "-ffp-contract=off"]
        super().build_extensions()


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension("losswatch.ingest._rowscan", ["losswatch/ingest/_rowscan.c"], optional=True),
        Extension("losswatch.engine._kernels", ["losswatch/engine/_kernels.c"], optional=True),
    ],
)
