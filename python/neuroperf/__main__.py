"""python -m neuroperf info|bench|...: runs the neuroperf command-line tool shipped in the package."""

import os
import sys
from pathlib import Path


def main() -> None:
    exe = Path(__file__).resolve().parent / "bin" / "neuroperf"
    if not exe.exists():
        sys.exit(f"neuroperf: the command-line tool is missing from this installation ({exe})")
    os.execv(str(exe), [str(exe), *sys.argv[1:]])  # replaces this process (no fork)


if __name__ == "__main__":
    main()
