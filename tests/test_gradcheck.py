"""The gradient checker itself: exact on known derivatives, loud on wrong ones."""
import numpy as np

from lstm_numpy.gradcheck import check_gradient, compare, numerical_gradient


def test_numerical_gradient_of_known_functions():
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    grad = numerical_gradient(lambda: np.sum(np.sin(x) * x ** 2), x)
    np.testing.assert_allclose(grad, np.cos(x) * x ** 2 + 2 * x * np.sin(x), rtol=1e-10)
    assert np.array_equal(x, [[0.3, -1.2], [2.0, 0.5]]), "x is restored"


def test_compare_reports_the_worst_entry():
    analytic = np.array([1.0, 2.0, 3.0])
    numerical = np.array([1.0, 2.2, 3.0])
    result = compare(analytic, numerical)
    assert result.worst_index == (1,)
    assert result.analytic == 2.0 and result.numerical == 2.2
    np.testing.assert_allclose(result.max_rel_error, 0.2 / 4.2)
    assert "(1,)" in str(result)


def test_a_wrong_gradient_is_caught():
    x = np.linspace(-1, 1, 5)
    wrong = 2 * x + 1e-3          # d(sum x^2) = 2x, off by a small constant
    assert check_gradient(lambda: np.sum(x ** 2), x, wrong).max_rel_error > 1e-4
    assert check_gradient(lambda: np.sum(x ** 2), x, 2 * x).max_rel_error < 1e-6


def test_rounding_noise_at_a_zero_entry_is_judged_against_the_gradient_scale():
    # analytic exactly 0, numerical 1e-12 of rounding noise, other entries of size 5
    analytic = np.array([0.0, 5.0, -5.0])
    numerical = np.array([-1.2e-12, 5.0, -5.0])
    assert compare(analytic, numerical).max_rel_error < 1e-6
    # but a real error of a small entry is still caught
    assert compare(np.array([1e-3, 5.0]), np.array([2e-3, 5.0])).max_rel_error > 1e-6
