"""damontui: live memory data-access monitoring and DAMOS tuning in the terminal."""

__version__ = "0.1.0"
