"""`python -m appariement.support [--only api|workers]`."""

from appariement.common.service import main
from appariement.support.spec import SPEC

if __name__ == "__main__":
    raise SystemExit(main(SPEC))
