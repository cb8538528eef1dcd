"""`primus-migrate verify`: a Primus checkout's own code judges our model of it.

    report = verify_experiments(["exp.yaml"], primus_path="/opt/Primus")   # VerifyReport
    report.verdicts[0].agree, report.verdicts[0].comparison.differences

`checkout` runs the checkout's loader and trainer-side argument updates in a confined subprocess
(`child.py`, never imported here: it imports the checkout with its GPU stack stubbed); `compare`
compares that namespace with `resolve_experiment(..., trainer_rewrites=True)` dest by dest.
"""

from migrate.verify.compare import Comparison, Difference
from migrate.verify.session import Verdict, VerifyReport, verify_experiments

__all__ = ["Comparison", "Difference", "Verdict", "VerifyReport", "verify_experiments"]
