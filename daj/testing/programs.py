"""One small problem with candidate programs whose behaviour is known by hand, for the tests of execution-grounded
selection (the service) and of evidence pairs (training): `top_two`, two doctest examples.

- RIGHT and RIGHT_TOO behave the same everywhere (one cluster);
- SETS passes both examples but drops duplicates in lists longer than 3 (`[4, 4, 4, 1]` -> `[4, 1]`);
- NO_SHORT passes both examples but raises IndexError on lists shorter than 2;
- WRONG (ascending) fails both examples.
"""

TOP_TWO_PROBLEM = '''from typing import List


def top_two(xs: List[int]) -> List[int]:
    """The two largest numbers, largest first.
    >>> top_two([1, 5, 3])
    [5, 3]
    >>> top_two([2, 2, 1])
    [2, 2]
    """
'''
RIGHT = "def top_two(xs):\n    return sorted(xs, reverse=True)[:2]\n"
RIGHT_TOO = "def top_two(xs):\n    ys = sorted(xs)\n    return [ys[-1], ys[-2]] if len(ys) > 1 else ys[::-1]\n"
SETS = "def top_two(xs):\n    ys = sorted(set(xs) if len(xs) > 3 else xs, reverse=True)\n    return ys[:2]\n"
NO_SHORT = "def top_two(xs):\n    ys = sorted(xs)\n    return [ys[-1], ys[-2]]\n"
WRONG = "def top_two(xs):\n    return sorted(xs)[:2]\n"
