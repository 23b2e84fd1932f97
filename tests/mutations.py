"""Mutation tests of the gradient checks: break a backward on purpose and see the check fail.

A gradient check that cannot fail proves nothing, so the tests plant the bugs real code has (a
flipped sign, a dropped term, a transposed product, one loss weighted by another's weight) and
assert that the check then fails. "Caught" means one thing everywhere: a relative error above
``CAUGHT``, three orders of magnitude over what a right gradient reaches (``helpers.assert_pass``
holds those below 1e-6). Imported as ``from mutations import ...``.
"""

CAUGHT = 1e-3


def rel_errors(results) -> dict:
    """{input name: max relative error} of gradient-check results."""
    return {r.name: r.max_rel_error for r in results}


def assert_caught(results, *wrong, rest_pass=False, what="") -> dict:
    """The check caught the planted bug: it fails, and each input named in ``wrong`` (none named:
    the worst input) has a relative error above ``CAUGHT``; with ``rest_pass`` every other input
    still passes (below 1e-6), so the bug shows exactly where it is. ``what`` names the bug in the
    failure message. Returns the errors by input name."""
    results = list(results)
    errors = rel_errors(results)
    where = f"{what}: " if what else ""
    assert results, f"{where}no gradient-check results"
    assert not all(r.passed for r in results), f"{where}every check passed: {errors}"
    if wrong:
        for name in wrong:
            assert errors[name] > CAUGHT, f"{where}{name} not caught: {errors}"
    else:
        assert max(r.max_rel_error for r in results) > CAUGHT, f"{where}not caught: {errors}"
    if rest_pass:
        assert all(e < 1e-6 for name, e in errors.items() if name not in wrong), f"{where}{errors}"
    return errors


def output_changed(real, change):
    """``real`` with its result passed through ``change(result, *args)``: a bug planted after the
    real function (bind ``real`` before patching it)."""
    return lambda *args: change(real(*args), *args)


def assert_check_catches(monkeypatch, patches, check, *wrong, rest_pass=False, what="") -> dict:
    """The harness: plant the bug, run the check, see it fail. ``patches`` are the arguments of
    ``monkeypatch.setattr`` (``(owner, name, replacement)`` or ``("package.module.name",
    replacement)``), applied in order; ``check()`` returns the gradient-check results (say
    ``lambda: run_check("critic", seed=3)``); then :func:`assert_caught`. The patches stay for the
    rest of the test (monkeypatch undoes them after it). Returns the errors by input name."""
    for patch in patches:
        monkeypatch.setattr(*patch)
    return assert_caught(check(), *wrong, rest_pass=rest_pass, what=what)
