"""Only a build step on top of pyproject.toml: the message catalogues are compiled (.po -> .mo)
when the package is built, so an installed smsd speaks Chinese without a compiled file in git."""

import runpy
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCatalogue(build_py):
    def run(self) -> None:
        script = Path(__file__).parent / "smsd" / "locale" / "build.py"
        runpy.run_path(str(script), run_name="catalogue")["compile_all"]()
        super().run()


setup(cmdclass={"build_py": BuildWithCatalogue})
