"""Interleaved repetitions: every repetition measures every arm once, the arm order rotating from
one repetition to the next, so a slow drift of the machine (another user, a frequency change)
spreads over all arms instead of landing on one."""


def interleave(reps, arms, measure, log=None):
    """Calls measure(arm, rep) for rep in range(reps) and every arm (rotated each rep); returns
    {arm: [value of each rep]}. An arm whose measure raises fails the whole call."""
    arms = list(arms)
    out = {a: [] for a in arms}
    for rep in range(reps):
        k = rep % len(arms) if arms else 0
        for arm in arms[k:] + arms[:k]:
            out[arm].append(measure(arm, rep))
        if log:
            log("  rep %d/%d done" % (rep + 1, reps))
    return out
