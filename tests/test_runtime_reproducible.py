"""Runtime settings that keep two runs of the same namespace bitwise alike."""


def test_importing_the_runtime_fixes_mkl_threading_unless_the_user_chose():
    """MKL's dynamic threading reorders sums on a busy machine; parity compares losses exactly."""
    import os
    import subprocess
    import sys

    code = "import os, primus_runtime; print(os.environ.get('MKL_DYNAMIC'))"
    env = {k: v for k, v in os.environ.items() if k != "MKL_DYNAMIC"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "FALSE"
    assert subprocess.run([sys.executable, "-c", code], env={**env, "MKL_DYNAMIC": "TRUE"}, capture_output=True,
                          text=True, check=True).stdout.strip() == "TRUE"
