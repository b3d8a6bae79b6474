"""keras_vae.utils.validation: the shared argument checks."""

import numpy as np
import pytest

from keras_vae.utils.validation import check_method
from keras_vae.utils.validation import check_optional_positive_int


def test_optional_positive_int_passes_none_and_checks_the_rest():
    assert check_optional_positive_int(None, "k") is None
    value = check_optional_positive_int(np.int64(3), "k")
    assert value == 3 and type(value) is int
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match=r"Expected `k` to be a positive integer"):
            check_optional_positive_int(bad, "k")


def test_check_method_returns_the_bound_method_or_names_the_type():
    class WithEncode:
        def encode(self, x):
            return x + 1

    assert check_method(WithEncode(), "encode", "to have `encode`")(1) == 2

    class NotCallable:
        encode = 3

    for obj, type_name in ((object(), "object"), (NotCallable(), "NotCallable")):
        with pytest.raises(
            TypeError,
            match=rf"^Expected `net` to have `encode`\. Received: net of type {type_name}$",
        ):
            check_method(obj, "encode", "to have `encode`", name="net")
