"""A wrong match rejected: the face is no longer named that person; the person is still named elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from facepipe.cli.main import main
from facepipe.core.errors import GalleryError
from facepipe.core.settings import explicit_settings
from facepipe.identity.corrections import reject_in_clip
from facepipe.identity.enroll import enroll
from facepipe.identity.gallery import Gallery


def _named(clip: Path, gallery: Gallery, settings) -> set[str]:
    """Who the clip names, read as the pipeline reads it (extract's frames, the recognize stage's rule)."""
    from facepipe.identity import recognition

    _, frames = recognition.recognize_file(clip, gallery, settings)
    return {face.id for frame in frames for face in frame.faces} - {"unknown"}


@pytest.fixture(scope="module")
def kit_only(samples, tmp_path_factory) -> Path:
    """A gallery of Kit Harington alone, matched far too loosely (0.9): other people get his name."""
    people = tmp_path_factory.mktemp("people")
    (people / "kit_harington").symlink_to(samples / "people" / "kit_harington")
    gallery, _ = enroll(people, explicit_settings())
    path = tmp_path_factory.mktemp("gallery") / "gallery.json"
    gallery.save(path)
    return path


def test_a_rejected_wrong_match_is_no_longer_named_and_the_person_still_is(kit_only, clip_factory, tmp_path, capsys):
    loose = explicit_settings(match_tolerance=0.9)
    alex, kit = clip_factory("alex_lacamoire1.jpg"), clip_factory("johnsnow_test1.jpg")
    gallery = Gallery.load(kit_only)
    assert _named(alex, gallery, loose) == {"kit_harington"}  # the wrong match
    assert _named(kit, gallery, loose) == {"kit_harington"}

    local = tmp_path / "gallery.json"
    local.write_bytes(kit_only.read_bytes())
    assert main(["people", "reject", str(alex), "kit_harington", "--gallery", str(local)]) == 1  # 0.60: not named
    assert "kit_harington is not named in this clip (nothing to reject)" in capsys.readouterr().err
    faces = reject_in_clip(gallery, alex, "kit_harington", loose, source=str(alex))
    assert faces == 3  # his face in each of the three frames, kept as one rejected face
    gallery.save(local)
    reloaded = Gallery.load(local)
    (rejection,) = reloaded.person("kit_harington").rejected
    assert rejection.source == str(alex)
    assert _named(alex, reloaded, loose) == set()  # not Kit any more: unknown
    assert _named(kit, reloaded, loose) == {"kit_harington"}  # Kit himself still is


def test_rejecting_someone_not_enrolled_is_refused_by_name(kit_only, clip_factory):
    with pytest.raises(GalleryError, match="obama: not in the gallery"):
        reject_in_clip(Gallery.load(kit_only), clip_factory("obama-480p.jpg"), "obama", explicit_settings(), source="x")


def test_a_gallery_without_rejections_reads_as_before(gallery_path):
    gallery = Gallery.load(gallery_path)
    assert all(person.rejected == [] for person in gallery.people)
    assert gallery.rejected_matrix()[0].shape == (0, 128)


def test_reject_reads_the_clip_from_the_stacks_bucket_and_publishes_the_gallery(
    kit_only, clip_factory, tmp_path, aws_env, capsys
):
    """As an operator does from a result message: the clip by its key in the bucket; the corrected gallery
    uploaded where the recognize functions read it."""
    import boto3
    from moto import mock_aws

    from facepipe.core.settings import get_settings

    aws_env.setenv("MATCH_TOLERANCE", "0.9")
    get_settings.cache_clear()
    local = tmp_path / "gallery.json"
    local.write_bytes(kit_only.read_bytes())
    key = "clips/pi-1/000001_20261130T120000000Z.mp4"
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="clips")
        s3.put_object(Bucket="clips", Key=key, Body=clip_factory("alex_lacamoire1.jpg").read_bytes())
        # The stack's gallery (as `enroll --bucket` left it): the rejection is written into it, not over it.
        s3.put_object(Bucket="clips", Key=get_settings().gallery_key, Body=kit_only.read_bytes())
        code = main(["people", "reject", key, "kit_harington", "--gallery", str(local), "--bucket", "clips"])
        assert code == 0, capsys.readouterr().err
        published = Gallery.loads(s3.get_object(Bucket="clips", Key=get_settings().gallery_key)["Body"].read())
    (rejection,) = published.person("kit_harington").rejected
    assert rejection.source == key and Gallery.load(local).person("kit_harington").rejected == [rejection]
    assert f"{key}: 3 face(s) are not kit_harington" in capsys.readouterr().out


def test_erasing_a_person_also_erases_their_face_kept_as_a_rejection(gallery_path, tmp_path):
    """Alex's face once wrongly named Kit and rejected is Alex's biometric data: erasing Alex removes it."""
    from facepipe.ops.erase import erase_from_file

    local = tmp_path / "gallery.json"
    gallery = Gallery.load(gallery_path)
    alex_face = gallery.person("alex_lacamoire").photos[0].encoding
    gallery.reject("kit_harington", "clips/pi/000001_x.mp4", alex_face)
    gallery.save(local)
    erase_from_file("alex_lacamoire", local, explicit_settings())
    after = Gallery.load(local)
    assert "alex_lacamoire" not in after.ids() and after.erased_ids() == {"alex_lacamoire"}
    assert after.person("kit_harington").rejected == []
