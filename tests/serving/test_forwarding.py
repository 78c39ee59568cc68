"""/v1 on the web port: the web process forwards each request to the inference process
(serving.wsgi under gunicorn, as runstack starts it) and passes the answer back."""

import socketserver
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import openai
import pytest
from django.test import override_settings

from config.processes import serving_command
from tests.conftest import REPO_ROOT, free_port

from .conftest import QUESTION

START_TIMEOUT_S = 90


def wait_until_answering(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "the inference process exited"
        try:
            urllib.request.urlopen(url, timeout=5)
        except urllib.error.HTTPError:
            return  # a 401: it answers
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {START_TIMEOUT_S}s")


@contextmanager
def inference_process(
    env: dict[str, str], *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """serving.wsgi under gunicorn, as runstack starts it; yields its URL, by `host`."""
    port = port or free_port()
    process = subprocess.Popen(
        serving_command(bind=f"127.0.0.1:{port}", threads=8, loglevel="warning"),
        cwd=REPO_ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    url = f"http://{host}:{port}"
    try:
        wait_until_answering(f"{url}/v1/models", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def inference_url(child_env):
    with inference_process({**child_env, "DEBUG": "true"}) as url:
        yield url


def test_the_platform_reaches_an_inference_process_run_as_in_production(child_env, sft, settings):
    """DEBUG off: HTTPS redirects on, and ALLOWED_HOSTS naming only the public name. The
    platform's own calls reach the inference process at INFERENCE_URL's name, over plain
    HTTP, as Compose does with http://serving:8001."""
    from sources.own_server import own_client
    from trainer.playground import playground_answer

    port = free_port()
    env = {
        **child_env,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "platform.example",
        "INFERENCE_URL": f"http://localhost:{port}",
    }
    with inference_process(env, host="localhost", port=port) as url:
        settings.INFERENCE_URL = url
        reply = own_client(sft.name).chat(QUESTION, max_tokens=4, seed=2)
        answer = playground_answer(version=sft, messages=QUESTION, max_new_tokens=4, seed=2)
        # A caller at another name is still refused: only the name the platform uses
        # was added to the hosts it answers to.
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)

    assert reply.replies and answer["reply"] == reply.replies[0]
    assert refused.value.code == 400  # DisallowedHost


def test_the_web_process_passes_requests_and_streams_through(client_for, sft, carol, inference_url):
    client = client_for(carol)
    with override_settings(SERVING_IN_PROCESS=False, INFERENCE_URL=inference_url):
        listed = [model.id for model in client.models.list().data]
        whole = client.chat.completions.create(
            model=sft.name, messages=QUESTION, max_tokens=6, seed=5
        )
        streamed = ""
        for chunk in client.chat.completions.create(
            model=sft.name, messages=QUESTION, max_tokens=6, seed=5, stream=True
        ):
            streamed += "".join(choice.delta.content or "" for choice in chunk.choices)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="sft-999", messages=QUESTION)

    assert listed == [sft.name]
    assert whole.usage.completion_tokens == 6
    assert streamed == whole.choices[0].message.content


def test_an_inference_process_that_does_not_answer_is_a_503(client_for, sft, carol):
    client = client_for(carol)
    nobody = f"http://127.0.0.1:{free_port()}"

    with (
        override_settings(SERVING_IN_PROCESS=False, INFERENCE_URL=nobody),
        pytest.raises(openai.InternalServerError) as refused,
    ):
        client.models.list()

    assert refused.value.status_code == 503
    assert refused.value.body["code"] == "inference_unavailable"


def test_a_body_over_the_limit_is_a_413_on_the_web_port_too(client_for, sft, carol):
    client = client_for(carol)
    nobody = f"http://127.0.0.1:{free_port()}"
    long_question = [{"role": "user", "content": "river " * 400}]

    with (
        override_settings(
            SERVING_IN_PROCESS=False, INFERENCE_URL=nobody, DATA_UPLOAD_MAX_MEMORY_SIZE=1000
        ),
        pytest.raises(openai.APIStatusError) as refused,
    ):
        client.chat.completions.create(model=sft.name, messages=long_question)

    assert refused.value.status_code == 413
    assert refused.value.body["code"] == "body_too_large"


class _NotHttp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"not an HTTP answer\r\n\r\n")


def test_an_inference_process_answering_not_in_http_is_a_503(client_for, sft, carol):
    client = client_for(carol)
    with socketserver.TCPServer(("127.0.0.1", 0), _NotHttp) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        garbled = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            with (
                override_settings(SERVING_IN_PROCESS=False, INFERENCE_URL=garbled),
                pytest.raises(openai.InternalServerError) as refused,
            ):
                client.models.list()
        finally:
            server.shutdown()

    assert refused.value.status_code == 503
    assert refused.value.body["code"] == "inference_unavailable"
