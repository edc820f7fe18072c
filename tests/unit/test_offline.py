"""The suite runs with outbound network blocked (tests/netguard): in this process and in the Python processes it
starts; loopback still works; asking for a Hub model offline gives a sentence that points to the embedded model."""
import socket
import subprocess
import sys

import pytest


def test_outbound_connections_and_lookups_are_blocked():
    with pytest.raises(OSError, match="blocked"):
        socket.create_connection(("93.184.216.34", 443), timeout=2)
    with pytest.raises(OSError, match="blocked"):
        socket.getaddrinfo("huggingface.co", 443)


def test_loopback_still_works():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname(), timeout=2)
    c.close()
    srv.close()


def test_subprocesses_are_blocked_too():
    code = "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\nexcept OSError as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "blocked" in out.stdout, out.stdout + out.stderr


def test_a_hub_model_offline_is_a_sentence_naming_the_embedded_one():
    import gradio as gr

    from genmodels.families.diffusion import tab

    with pytest.raises(gr.Error, match="(?i)embedded"):
        for _ in tab.diffusion_txt2img("a red star", "", 2, 3.0, "DDIM", 1, 0, "nobody/no-such-pipeline"):
            pass
