"""`python -m appariement.notification [--only api|workers]`."""

from appariement.common.service import main
from appariement.notification.spec import SPEC

if __name__ == "__main__":
    raise SystemExit(main(SPEC))
