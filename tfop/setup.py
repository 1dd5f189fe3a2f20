"""Packs the op library that ``tfop/build.sh`` built (``bprwire_tfop/``:
``libbprwire_tfop.so`` and the ``TF_VERSION`` it was built against) and
the Python package into one wheel: tagged ``py3-none-<platform>`` (the
library links no Python, only TensorFlow's framework library, which the
TensorFlow wheel brings), and requiring that TensorFlow's minor release
(``tensorflow-cpu==X.Y.*``), the one whose C++ ABI the library was built
with."""

from pathlib import Path

from setuptools import setup
from setuptools.dist import Distribution
from setuptools.command.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "bprwire_tfop"

if not (PACKAGE / "libbprwire_tfop.so").exists() or not (PACKAGE / "TF_VERSION").exists():
    raise SystemExit("bprwire_tfop/libbprwire_tfop.so is not built: run tfop/build.sh first (or tfop/wheel.sh)")
major, minor = (PACKAGE / "TF_VERSION").read_text().strip().split(".")[:2]


class BinaryDistribution(Distribution):
    """The wheel holds a native library: platform-specific."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    """``py3-none-<platform>``: any Python 3 that TensorFlow supports."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(
    packages=["bprwire_tfop"],
    package_data={"bprwire_tfop": ["libbprwire_tfop.so", "TF_VERSION"]},
    install_requires=[f"tensorflow-cpu=={major}.{minor}.*"],
    distclass=BinaryDistribution,
    cmdclass={"bdist_wheel": PlatformWheel},
    zip_safe=False,
)
