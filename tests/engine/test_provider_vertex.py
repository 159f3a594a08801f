"""The Vertex provider's real google-genai client against a local server (pytest-httpserver) posing as Vertex AI.

Nothing is mocked: the client builds and sends real HTTP to the local server, which answers generateContent with
bodies shaped like Vertex AI's, its error bodies, 429 and 503, malformed JSON and a slow answer. Credentials are
offline too: a fixed access token, or a freshly generated service-account key whose token endpoint is the local
server, so the OAuth exchange runs for real.
"""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials as AccessTokenCredentials
from werkzeug import Response

from prompts.content import PromptContent
from prompts.rendering import render
from tests.local_http import closed_local_port, finish_slow_handler
from workflows.gateway.providers.base import ProviderConfigError, ProviderRequestError, ProviderUnavailableError
from workflows.gateway.providers.vertex import VertexProvider
from workflows.gateway.types import GenerationRequest

PROJECT, LOCATION, MODEL = "acme-prompts", "europe-west4", "gemini-2.5-flash"
GENERATE_PATH = f"/v1beta1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{MODEL}:generateContent"
ACCESS_TOKEN = "ya29.offline-test-token"

SENTIMENT = PromptContent(
    template="Review: {{text}}\nSentiment:",
    system_instruction="Classify the sentiment of the review.",
    demonstrations=(({"text": "Loved it."}, "positive"), ({"text": "Hated it."}, "negative")),
    output_type="choice",
    output_choices=("positive", "negative"),
)


@pytest.fixture(autouse=True)
def _predictable_client_environment(monkeypatch):
    # These variables change the client's API version or transport; a developer's shell must not change tests.
    for name in ("GOOGLE_GENAI_API_VERSION", "GOOGLE_API_USE_CLIENT_CERTIFICATE", "GOOGLE_GENAI_HTTP_CLIENT"):
        monkeypatch.delenv(name, raising=False)


def vertex_response(text="positive", *, prompt_tokens=31, answer_tokens=1, thought_tokens=None, finish="STOP"):
    """A generateContent response shaped like the ones Vertex AI returns."""
    usage = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": answer_tokens,
        "totalTokenCount": prompt_tokens + answer_tokens + (thought_tokens or 0),
        "trafficType": "ON_DEMAND",
    }
    if thought_tokens is not None:
        usage["thoughtsTokenCount"] = thought_tokens
    parts = [{"text": text}] if text is not None else []
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "avgLogprobs": -0.01}],
        "usageMetadata": usage,
        "modelVersion": MODEL,
        "createTime": "2026-01-01T12:00:00.000000Z",
        "responseId": "abc123",
    }


def make_provider(httpserver, **overrides):
    arguments = {
        "project": PROJECT,
        "location": LOCATION,
        "model": MODEL,
        "credentials": AccessTokenCredentials(token=ACCESS_TOKEN),
        "timeout_seconds": 5.0,
        "base_url": httpserver.url_for("/"),
        "allow_private_base_url": True,  # the local server is on loopback
    }
    return VertexProvider(**{**arguments, **overrides})


def request_for(spec=SENTIMENT, text="A delight from start to finish.", **settings):
    return GenerationRequest(prompt=render(spec, {"text": text}), **settings)


def sent_json(httpserver, index=0):
    request, _response = httpserver.log[index]
    return request.get_json()


def test_it_sends_the_system_instruction_turns_and_an_enum_schema_and_reads_the_answer(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(vertex_response("positive"))
    provider = make_provider(httpserver)

    [generation] = provider.generate([request_for(temperature=0.2, max_tokens=16, seed=11)])

    assert sent_json(httpserver) == {
        "contents": [
            {"role": "user", "parts": [{"text": "Review: Loved it.\nSentiment:"}]},
            {"role": "model", "parts": [{"text": "positive"}]},
            {"role": "user", "parts": [{"text": "Review: Hated it.\nSentiment:"}]},
            {"role": "model", "parts": [{"text": "negative"}]},
            {"role": "user", "parts": [{"text": "Review: A delight from start to finish.\nSentiment:"}]},
        ],
        "systemInstruction": {"role": "user", "parts": [{"text": "Classify the sentiment of the review."}]},
        "generationConfig": {
            "temperature": 0.2,
            "maxOutputTokens": 16,
            "seed": 11,
            "responseMimeType": "text/x.enum",
            "responseSchema": {"type": "STRING", "enum": ["positive", "negative"]},
        },
    }
    request, _response = httpserver.log[0]
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["X-Server-Timeout"] == "5"  # the explicit timeout, also told to the server
    assert generation.text == "positive"
    assert (generation.input_tokens, generation.output_tokens) == (31, 1)
    assert generation.choice_logprobs is None
    assert generation.raw == {"finish_reason": "STOP", "thought_tokens": 0, "model_version": MODEL}
    assert generation.latency_ms >= 0


def test_it_asks_for_json_matching_the_versions_schema(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(vertex_response('{"label": "ok"}'))
    schema = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
    spec = PromptContent(template="Question: {{text}}", output_type="json", output_schema=schema)

    [generation] = make_provider(httpserver).generate([request_for(spec, "Classify this.")])

    config = sent_json(httpserver)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == schema
    assert generation.text == '{"label": "ok"}'


def test_it_sends_free_text_prompts_without_a_schema(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(vertex_response(" Paris.\n"))
    spec = PromptContent(template="Question: {{text}}")

    [generation] = make_provider(httpserver).generate([request_for(spec, "Capital of France?")])

    body = sent_json(httpserver)
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Question: Capital of France?"}]}]
    assert "systemInstruction" not in body
    assert body["generationConfig"] == {"temperature": 0.0, "maxOutputTokens": 256, "seed": 0}
    assert generation.text == "Paris."


def test_it_sends_a_completion_layout_prompt_as_one_user_turn_that_stops_at_a_blank_line(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(vertex_response("negative"))
    spec = PromptContent(template="Review: {{text}}\nSentiment:", system_instruction="Be terse.", layout="completion")
    prompt = render(spec, {"text": "Dreadful."})

    make_provider(httpserver).generate([GenerationRequest(prompt=prompt)])

    body = sent_json(httpserver)
    assert body["contents"] == [{"role": "user", "parts": [{"text": prompt.completion_text}]}]
    assert "systemInstruction" not in body  # already at the top of the completion text
    assert body["generationConfig"]["stopSequences"] == ["\n\n"]

    make_provider(httpserver).generate([GenerationRequest(prompt=prompt, stop=("\n",))])
    assert sent_json(httpserver, 1)["generationConfig"]["stopSequences"] == ["\n\n", "\n"]  # the version's too


def test_it_answers_a_batch_in_order(httpserver):
    def echo_review(request):
        review = request.get_json()["contents"][-1]["parts"][0]["text"]
        return Response(json.dumps(vertex_response(f"echo {review}")), content_type="application/json")

    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_handler(echo_review)

    generations = make_provider(httpserver).generate([request_for(text="first"), request_for(text="second")])

    assert [generation.text for generation in generations] == [
        "echo Review: first\nSentiment:",
        "echo Review: second\nSentiment:",
    ]


def test_thinking_tokens_count_as_output_and_the_budget_is_sent(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(
        vertex_response("positive", answer_tokens=1, thought_tokens=120)
    )

    [generation] = make_provider(httpserver, thinking_budget=512).generate([request_for()])

    # The SDK passes this sub-object through with its proto field names, which Vertex's JSON parser accepts.
    assert sent_json(httpserver)["generationConfig"]["thinkingConfig"] == {"thinking_budget": 512}
    assert generation.output_tokens == 121
    assert generation.raw["thought_tokens"] == 120


def test_an_answer_lost_to_thinking_is_an_error_not_an_empty_answer(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(
        vertex_response(None, answer_tokens=0, thought_tokens=16, finish="MAX_TOKENS")
    )

    with pytest.raises(ProviderRequestError, match="spent its whole output budget thinking"):
        make_provider(httpserver).generate([request_for(max_tokens=16)])


def test_a_blocked_prompt_is_a_request_error_with_the_reason(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(
        {
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT", "blockReasonMessage": "Prompt was blocked."},
            "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        }
    )

    with pytest.raises(ProviderRequestError, match=r"prompt was blocked \(PROHIBITED_CONTENT\): Prompt was blocked"):
        make_provider(httpserver).generate([request_for()])


def test_a_withheld_answer_is_a_request_error_with_the_finish_reason(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(vertex_response(None, finish="SAFETY"))

    with pytest.raises(ProviderRequestError, match=r"withheld its answer .*SAFETY"):
        make_provider(httpserver).generate([request_for()])


def test_a_429_is_retryable_after_its_retry_after_header_and_is_not_retried_by_the_client(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(
        {
            "error": {
                "code": 429,
                "message": "Resource exhausted. Please try again later.",
                "status": "RESOURCE_EXHAUSTED",
            }
        },
        status=429,
        headers={"Retry-After": "12"},
    )

    with pytest.raises(ProviderUnavailableError, match="answered 429: Resource exhausted") as caught:
        make_provider(httpserver).generate([request_for()])

    assert caught.value.retry_after_seconds == 12.0
    assert len(httpserver.log) == 1  # the SDK's own retries are off; the gateway alone retries


def test_a_429_without_a_header_is_retried_after_the_retry_info_delay(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(
        {
            "error": {
                "code": 429,
                "message": "Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "4.5s"}],
            }
        },
        status=429,
    )

    with pytest.raises(ProviderUnavailableError, match="Quota exceeded") as caught:
        make_provider(httpserver).generate([request_for()])

    assert caught.value.retry_after_seconds == 4.5


def test_a_503_is_retryable(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(
        {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}, status=503
    )

    with pytest.raises(ProviderUnavailableError, match="answered 503: The model is overloaded") as caught:
        make_provider(httpserver).generate([request_for()])

    assert caught.value.retry_after_seconds is None
    assert len(httpserver.log) == 1


def test_a_400_fails_at_once_with_the_apis_message(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(
        {
            "error": {
                "code": 400,
                "message": "Unable to submit request because it has a maxOutputTokens value of 900000 but the "
                "supported range is from 1 (inclusive) to 65537 (exclusive).",
                "status": "INVALID_ARGUMENT",
            }
        },
        status=400,
    )

    with pytest.raises(ProviderRequestError, match=r"answered 400: Unable to submit request .* supported range") as e:
        make_provider(httpserver).generate([request_for(max_tokens=900000)])

    assert not e.value.retryable


def test_an_error_does_not_echo_the_access_token(httpserver):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(
        {"error": {"code": 403, "message": "Permission denied on resource project.", "status": "PERMISSION_DENIED"}},
        status=403,
    )

    with pytest.raises(ProviderRequestError, match="answered 403: Permission denied") as caught:
        make_provider(httpserver).generate([request_for()])

    assert ACCESS_TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("{not json", "Expecting property name"),
        ('{"candidates": "positive"}', "validation error"),
        ("{}", "no candidates"),
    ],
)
def test_a_malformed_body_is_a_retryable_fault_of_the_server(httpserver, body, detail):
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_data(body, content_type="application/json")

    with pytest.raises(ProviderUnavailableError, match=f"malformed response: .*{detail}"):
        make_provider(httpserver).generate([request_for()])


def test_a_slow_server_times_out_as_retryable(httpserver):
    release = threading.Event()

    def slow(_request):
        release.wait(timeout=5)
        return Response(json.dumps(vertex_response()), content_type="application/json")

    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_handler(slow)
    provider = make_provider(httpserver, timeout_seconds=0.2)

    started = time.perf_counter()
    with pytest.raises(ProviderUnavailableError, match=r"did not answer within 0\.2 s"):
        provider.generate([request_for()])

    assert time.perf_counter() - started < 2  # the explicit timeout ended the wait, not the server
    finish_slow_handler(httpserver, release)
    assert len(httpserver.log) == 1  # one attempt, never a second


def test_an_unreachable_base_url_is_retryable_and_named():
    port = closed_local_port()
    base_url = f"http://127.0.0.1:{port}/"
    provider = VertexProvider(
        project=PROJECT,
        location=LOCATION,
        credentials=AccessTokenCredentials(token=ACCESS_TOKEN),
        timeout_seconds=2.0,
        base_url=base_url,
        allowed_hosts=["127.0.0.1"],
    )

    with pytest.raises(ProviderUnavailableError, match=f"could not reach {base_url}"):
        provider.generate([request_for()])


# --- Credentials ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_key_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def service_account_file(tmp_path, httpserver, private_key_pem):
    """A real service-account key file whose token endpoint is the local server."""
    path = tmp_path / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "0123456789abcdef",
                "private_key": private_key_pem,
                "client_email": f"promptopt@{PROJECT}.iam.gserviceaccount.com",
                "client_id": "1234567890",
                "token_uri": httpserver.url_for("/token"),
            }
        )
    )
    return path


def test_a_service_account_file_is_exchanged_for_an_access_token_with_the_cloud_platform_scope(
    httpserver, service_account_file
):
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "ya29.from-service-account", "expires_in": 3599, "token_type": "Bearer"}
    )
    httpserver.expect_request(
        GENERATE_PATH, method="POST", headers={"Authorization": "Bearer ya29.from-service-account"}
    ).respond_with_json(vertex_response("negative"))
    provider = make_provider(httpserver, credentials=None, credentials_file=str(service_account_file))

    [generation] = provider.generate([request_for()])

    token_request, _response = httpserver.log[0]
    assert token_request.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assertion_claims = token_request.form["assertion"].split(".")[1]
    claims = json.loads(_base64url_decode(assertion_claims))
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert generation.text == "negative"


def test_unscoped_service_account_credentials_get_the_cloud_platform_scope(httpserver, service_account_file):
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "ya29.scoped", "expires_in": 3599, "token_type": "Bearer"}
    )
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(vertex_response())
    unscoped = service_account.Credentials.from_service_account_file(str(service_account_file))

    make_provider(httpserver, credentials=unscoped).generate([request_for()])

    token_request, _response = httpserver.log[0]
    claims = json.loads(_base64url_decode(token_request.form["assertion"].split(".")[1]))
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"


def test_application_default_credentials_come_from_google_application_credentials(
    httpserver, service_account_file, monkeypatch
):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_file))
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "ya29.from-adc", "expires_in": 3599, "token_type": "Bearer"}
    )
    httpserver.expect_request(
        GENERATE_PATH, method="POST", headers={"Authorization": "Bearer ya29.from-adc"}
    ).respond_with_json(vertex_response("positive"))

    [generation] = make_provider(httpserver, credentials=None).generate([request_for()])

    assert generation.text == "positive"


def test_credentials_the_token_endpoint_refuses_are_a_configuration_error(httpserver, service_account_file):
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, status=400
    )
    provider = make_provider(httpserver, credentials=None, credentials_file=str(service_account_file))

    with pytest.raises(ProviderConfigError, match=r"credentials were refused: .*invalid_grant"):
        provider.generate([request_for()])

    assert [request.path for request, _response in httpserver.log] == ["/token"]  # no model call without a token


def test_missing_application_default_credentials_say_how_to_configure_them(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))

    with pytest.raises(ProviderConfigError) as caught:
        make_provider(httpserver, credentials=None)

    message = str(caught.value)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message
    assert "gcloud auth application-default login" in message
    assert "missing.json" in message
    assert httpserver.log == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "is not a service-account key file"),
        ('{"type": "service_account"}', "is not a service-account key file .*missing fields"),
    ],
)
def test_an_unusable_credentials_file_is_refused(httpserver, tmp_path, content, message):
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(ProviderConfigError, match=f"credentials_file {path} {message}"):
        make_provider(httpserver, credentials=None, credentials_file=str(path))


def test_a_private_key_never_appears_in_a_credentials_error(httpserver, tmp_path, private_key_pem):
    lines = private_key_pem.splitlines()
    damaged_key = "\n".join([lines[0], lines[1], lines[2][:-8] + "!!!!!!!!", *lines[3:]])  # not valid base64
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"private_key": damaged_key, "client_email": "x@y.example", "token_uri": "https://t"}))

    with pytest.raises(ProviderConfigError, match="is not a service-account key file") as caught:
        make_provider(httpserver, credentials=None, credentials_file=str(path))

    assert lines[1] not in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"project": ""}, "needs a project"),
        ({"location": " "}, "needs a location"),
        ({"model": ""}, "needs a model"),
        ({"credentials_file": "/somewhere/key.json"}, "credentials or credentials_file, not both"),
        ({"timeout_seconds": -1}, "timeout_seconds must be positive"),
        ({"max_concurrency": 0}, "max_concurrency must be at least 1"),
        ({"allow_private_base_url": False}, "base_url host localhost .* is a loopback address"),
        ({"base_url": "gopher://8.8.8.8"}, "base_url must use http or https"),
    ],
)
def test_bad_configuration_is_refused_before_any_call(httpserver, overrides, message):
    with pytest.raises(ProviderConfigError, match=message):
        make_provider(httpserver, **overrides)

    assert httpserver.log == []


def test_it_reports_its_name_model_and_concurrency(httpserver):
    provider = make_provider(httpserver, model="gemini-2.5-pro", max_concurrency=4)

    assert (provider.name, provider.model_name, provider.max_concurrency) == ("vertex", "gemini-2.5-pro", 4)


def _base64url_decode(segment):
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
