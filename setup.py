"""Build the Cython access-check kernels from ext/ into damontui._kernels."""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "damontui._kernels",
        ["ext/_kernels.pyx"],
        extra_compile_args=["-O3"],
    ),
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    ),
)
