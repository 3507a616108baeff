"""What several commands share: colours as people write them, --model a file, messages on stderr."""
import click
import pytest

from pic2emoji.cli_options import colour_option, say

from conftest import run


def test_colours_are_read_as_people_write_them():
    assert colour_option(None, None, "black") == (0, 0, 0)
    assert colour_option(None, None, "#336699") == (0x33, 0x66, 0x99)
    assert colour_option(None, None, "10,20,30") == (10, 20, 30)
    with pytest.raises(click.BadParameter, match="mauve-ish"):
        colour_option(None, None, "mauve-ish")


def test_a_folder_given_as_the_model_is_a_usage_error(tmp_path):
    result = run("eval", "noto", "--model", tmp_path)
    assert result.exit_code == 2 and "--model" in result.output


def test_say_writes_to_stderr(capsys):
    say("wrote 3 files")
    assert capsys.readouterr() == ("", "wrote 3 files\n")
