"""Build the Cython kernels from ext/: damontui._kernels and damontui._sampler."""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "damontui._kernels",
        ["ext/_kernels.pyx"],
        extra_compile_args=["-O3"],
    ),
    Extension(
        "damontui._sampler",
        ["ext/_sampler.pyx"],
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
