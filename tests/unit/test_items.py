"""DynamoDB items through boto3's own serializer: what the stores write is what they read back."""

from __future__ import annotations

from facepipe.aws.items import from_item, to_item


def test_plain_values_round_trip():
    values = {
        "id": "unknown-7",
        "seen": 3,
        "sharpness": 0.4123,
        "crop": b"\xff\xd8jpeg",
        "dismissed": False,
        "ids": {"markey", "unknown-7"},
        "faces": [{"id": "markey", "distance": 0.31, "crop": b"\x00\x01"}],
    }
    assert from_item(to_item(values)) == values


def test_the_typed_form_is_dynamodbs():
    item = to_item({"n": 2, "f": 0.1, "s": "x", "b": b"y", "ok": True, "ss": {"a"}, "l": [1], "m": {"k": "v"}})
    assert item == {
        "n": {"N": "2"},
        "f": {"N": "0.1"},  # a float's shortest repr, not its binary expansion
        "s": {"S": "x"},
        "b": {"B": b"y"},
        "ok": {"BOOL": True},
        "ss": {"SS": ["a"]},
        "l": {"L": [{"N": "1"}]},
        "m": {"M": {"k": {"S": "v"}}},
    }


def test_none_leaves_an_attribute_out_at_any_depth():
    item = to_item({"name": None, "faces": [{"id": "a", "distance": None}]})
    assert item == {"faces": {"L": [{"M": {"id": {"S": "a"}}}]}}


def test_integral_numbers_come_back_as_int_others_as_float():
    back = from_item({"a": {"N": "5"}, "b": {"N": "2.5"}})
    assert back == {"a": 5, "b": 2.5}
    assert isinstance(back["a"], int) and isinstance(back["b"], float)
