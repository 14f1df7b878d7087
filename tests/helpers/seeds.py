"""The seed of a randomized test: fixed by default, so a run is reproducible; VIDLM_TEST_SEED=N reruns it with N."""

import os


def seed_for(default: int) -> int:
    """`default`, or VIDLM_TEST_SEED when set; printed, so a failing test's captured output names it."""
    seed = int(os.environ.get("VIDLM_TEST_SEED", default))
    print(f"seed {seed} (rerun with VIDLM_TEST_SEED={seed})")
    return seed
