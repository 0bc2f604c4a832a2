import pytest

from pertool.values import accepts, values_equal


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("New  York ", "new york"),
        ("Café", "CAFÉ"),
        (20, 20.0),
        (20, "20"),
        ("20.0", 20),
        (0.1 + 0.2, 0.3),
        (True, "true"),
        (False, " False"),
        (None, None),
        (["a", "B"], ["b", "A"]),
        ([1, "x"], ("X", "1")),
        ({"k": ["a", 2]}, {"k": [2.0, "A"]}),
        ([], []),
    ],
)
def test_equal(a, b):
    assert values_equal(a, b)
    assert values_equal(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("007", "7"),  # identifiers keep their leading zeros
        ("20", "20.0"),  # two strings compare as strings
        (True, 1),
        (False, 0),
        (None, "None"),
        (None, ""),
        (1, 2),
        ("abc", 5),
        (["a", "a"], ["a", "b"]),
        (["a"], ["a", "a"]),
        ({"k": 1}, {"k": 1, "j": 2}),
        ([1], 1),
        ("1e999", 1),
    ],
)
def test_not_equal(a, b):
    assert not values_equal(a, b)
    assert not values_equal(b, a)


def test_list_matching_is_not_greedy():
    # "20" matches both 20 and "20"; a greedy pairing that took "20"<->20 first would fail.
    assert values_equal(["20", 20.0], [20, "20"])
    assert values_equal([20, "20"], ["20", 20.0])


def test_accepts_any_of_the_list():
    assert accepts(["Beijing", "Peking"], "peking")
    assert not accepts(["Beijing"], "Shanghai")
    assert not accepts([], "anything")
