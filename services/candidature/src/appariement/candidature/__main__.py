"""`python -m appariement.candidature [--only api|workers]`."""

from appariement.candidature.spec import SPEC
from appariement.common.service import main

if __name__ == "__main__":
    raise SystemExit(main(SPEC))
