"""`python -m appariement.matching [--only api|workers]`."""

from appariement.common.service import main
from appariement.matching.spec import SPEC

if __name__ == "__main__":
    raise SystemExit(main(SPEC))
