"""The CLI's --plot options write pictures and change nothing in the answers."""

from __future__ import annotations


def run_cli(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    import sys

    from bertkit.cli import main

    monkeypatch.setattr(sys, "argv", ["bertkit", *args])
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_plot_options(capsys, monkeypatch, tiny_qa_dir, tmp_path):
    model = str(tiny_qa_dir)
    code, out, err = run_cli(
        capsys, monkeypatch, "qa", "-q", "Where?", "-c", "John lives in 서울.", "-m", model, "--json",
        "--plot", str(tmp_path / "qa.svg"),
    )  # fmt: skip
    assert code == 0 and (tmp_path / "qa.svg").read_text().startswith("<?xml")
    plain = run_cli(
        capsys, monkeypatch, "qa", "-q", "Where?", "-c", "John lives in 서울.", "-m", model, "--json"
    )
    assert out == plain[1]  # the picture changes nothing in the answers
    code, _, err = run_cli(
        capsys, monkeypatch, "tokenize", "안녕 world", "-m", model, "--plot", str(tmp_path / "t.png")
    )
    assert code == 0 and (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")
    code, _, err = run_cli(
        capsys, monkeypatch, "tokenize", "x", "-m", model, "--plot", str(tmp_path / "t.pdf")
    )
    assert code == 2 and "use a .png or .svg" in err
