"""What the tests share: apps and database legs, logins, factories and helpers per feature."""

from pathlib import Path

#: the repository's root folder
ROOT = Path(__file__).resolve().parents[2]
