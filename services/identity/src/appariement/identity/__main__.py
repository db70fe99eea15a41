"""`python -m appariement.identity [--only api|workers]`."""

from appariement.common.service import main
from appariement.identity.spec import SPEC

if __name__ == "__main__":
    raise SystemExit(main(SPEC))
