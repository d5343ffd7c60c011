from __future__ import annotations

from line311.cli import main

if __name__ == "__main__":
    main()
