"""The Hugging Face provider's real InferenceClient against a local OpenAI-compatible server (pytest-httpserver).

Nothing is mocked: the client sends real HTTP to the local server, which answers like TGI / vLLM / llama.cpp do,
including their error shapes, 429 and 503 with Retry-After, malformed bodies, a slow answer and a closed port.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from werkzeug import Response

from prompts.content import PromptContent
from prompts.rendering import render
from tests.local_http import closed_local_port, finish_slow_handler
from workflows.gateway.providers.base import ProviderConfigError, ProviderRequestError, ProviderUnavailableError
from workflows.gateway.providers.huggingface import HuggingFaceProvider
from workflows.gateway.types import GenerationRequest

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"

SENTIMENT = PromptContent(
    template="Review: {{text}}\nSentiment:",
    system_instruction="Classify the sentiment of the review.",
    demonstrations=(({"text": "Loved it."}, "positive"),),
    output_type="choice",
    output_choices=("positive", "negative"),
)


def completion_body(content="positive", *, prompt_tokens=42, completion_tokens=1, finish_reason="stop"):
    """A chat completion shaped like the ones TGI and vLLM return."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "served-model",
        "system_fingerprint": "3.0.0-native",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def make_provider(httpserver, **overrides):
    arguments = {
        "model": "my-org/my-model",
        "base_url": httpserver.url_for("/"),
        "token": None,
        "timeout_seconds": 5.0,
        "allow_private_base_url": True,  # the local server is on loopback
    }
    return HuggingFaceProvider(**{**arguments, **overrides})


def request_for(spec=SENTIMENT, text="A delight from start to finish.", **settings):
    return GenerationRequest(prompt=render(spec, {"text": text}), **settings)


def sent_json(httpserver, index=0):
    request, _response = httpserver.log[index]
    return request.get_json()


def test_it_sends_chat_messages_and_sampling_settings_and_reads_the_answer(httpserver):
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(completion_body(" positive\n"))
    provider = make_provider(httpserver)

    [generation] = provider.generate([request_for(temperature=0.3, max_tokens=12, seed=7)])

    assert sent_json(httpserver) == {
        "model": "my-org/my-model",
        "messages": [
            {"role": "system", "content": "Classify the sentiment of the review."},
            {"role": "user", "content": "Review: Loved it.\nSentiment:"},
            {"role": "assistant", "content": "positive"},
            {"role": "user", "content": "Review: A delight from start to finish.\nSentiment:"},
        ],
        "max_tokens": 12,
        "temperature": 0.3,
        "seed": 7,
        "stream": False,
    }
    assert generation.text == "positive"
    assert (generation.input_tokens, generation.output_tokens) == (42, 1)
    assert generation.choice_logprobs is None  # labels are not scored; the metric maps the text
    assert generation.raw == {"finish_reason": "stop", "served_model": "served-model"}
    assert generation.latency_ms >= 0


def text_completion_body(text=" negative", *, prompt_tokens=30, completion_tokens=1, finish_reason="stop"):
    """A text completion shaped like the ones vLLM, TGI and llama.cpp return from /v1/completions."""
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1767225600,
        "model": "served-model",
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


COMPLETION_SPEC = PromptContent(template="Review: {{text}}\nSentiment:", layout="completion")


def test_a_completion_layout_prompt_is_continued_by_the_servers_text_completion_route(httpserver):
    httpserver.expect_request(COMPLETIONS_PATH, method="POST").respond_with_json(text_completion_body(" negative\n"))
    prompt = render(COMPLETION_SPEC, {"text": "Dreadful."})

    [generation] = make_provider(httpserver).generate(
        [GenerationRequest(prompt=prompt, temperature=0.0, max_tokens=5, seed=3)]
    )

    assert sent_json(httpserver) == {
        "model": "my-org/my-model",
        "prompt": prompt.completion_text,  # the text itself, in no chat template
        "max_tokens": 5,
        "temperature": 0.0,
        "seed": 3,
        "stop": ["\n\n"],  # a blank line ends the answer, as demonstrations are separated by one
    }
    assert generation.text == "negative"
    assert (generation.input_tokens, generation.output_tokens) == (30, 1)
    assert generation.raw == {"finish_reason": "stop", "served_model": "served-model"}


def test_a_versions_stop_sequences_are_sent_after_the_layouts_own(httpserver):
    httpserver.expect_request(COMPLETIONS_PATH, method="POST").respond_with_json(text_completion_body())
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(completion_body("positive"))
    provider = make_provider(httpserver)
    completion = render(COMPLETION_SPEC, {"text": "Dreadful."})
    chat = render(COMPLETION_SPEC.edit(layout="chat"), {"text": "Dreadful."})

    provider.generate([GenerationRequest(prompt=completion, stop=("\n", "\n\n"))])
    provider.generate([GenerationRequest(prompt=chat, stop=("\n",))])

    assert sent_json(httpserver, 0)["stop"] == ["\n\n", "\n"]  # each once, the layout's first
    assert sent_json(httpserver, 1)["stop"] == ["\n"]


def test_a_base_url_ending_in_v1_is_not_given_a_second_one(httpserver):
    httpserver.expect_request(COMPLETIONS_PATH, method="POST").respond_with_json(text_completion_body())

    make_provider(httpserver, base_url=httpserver.url_for("/v1")).generate([request_for(COMPLETION_SPEC)])

    assert httpserver.log[0][0].path == COMPLETIONS_PATH


def test_the_text_completion_route_sends_the_token_and_never_the_machines(httpserver, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_deployment_secret")
    httpserver.expect_request(COMPLETIONS_PATH, method="POST").respond_with_json(text_completion_body())

    make_provider(httpserver, token="server-key").generate([request_for(COMPLETION_SPEC)])
    make_provider(httpserver, token=None).generate([request_for(COMPLETION_SPEC)])

    with_token, without_token = (request.headers for request, _response in httpserver.log)
    assert with_token["Authorization"] == "Bearer server-key"
    assert "hf_deployment_secret" not in str(without_token)
    assert without_token.get("Authorization", "") == ""


def test_a_server_without_the_text_completion_route_gets_completion_prompts_as_one_chat_message(httpserver):
    httpserver.expect_request(COMPLETIONS_PATH, method="POST").respond_with_json({"error": "Not Found"}, status=404)
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(completion_body("negative"))
    prompt = render(COMPLETION_SPEC, {"text": "Dreadful."})
    provider = make_provider(httpserver)

    first, second = (provider.generate([GenerationRequest(prompt=prompt)])[0] for _ in range(2))

    assert [request.path for request, _response in httpserver.log] == [COMPLETIONS_PATH, CHAT_PATH, CHAT_PATH]
    body = sent_json(httpserver, 1)
    assert body["messages"] == [{"role": "user", "content": prompt.completion_text}]
    assert body["stop"] == ["\n\n"]
    assert first.text == second.text == "negative"


def test_a_405_also_means_the_route_is_missing(httpserver):
    httpserver.expect_request(COMPLETIONS_PATH, method="POST").respond_with_data("", status=405)
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(completion_body("negative"))

    [generation] = make_provider(httpserver).generate([request_for(COMPLETION_SPEC)])

    assert generation.text == "negative"
    assert [request.path for request, _response in httpserver.log] == [COMPLETIONS_PATH, CHAT_PATH]


def test_an_unknown_model_on_the_text_completion_route_is_reported_not_sent_to_chat(httpserver):
    # vLLM's answer to a model name it does not serve: a 404 with an OpenAI-style error body.
    httpserver.expect_request(COMPLETIONS_PATH, method="POST").respond_with_json(
        {"object": "error", "message": "The model `my-org/my-model` does not exist.", "code": 404}, status=404
    )
    provider = make_provider(httpserver)

    with pytest.raises(ProviderRequestError, match="answered 404: The model `my-org/my-model` does not exist"):
        provider.generate([request_for(COMPLETION_SPEC)])

    assert provider.route(request_for(COMPLETION_SPEC)) == "text-completion"  # the route is kept
    assert len(httpserver.log) == 1


def test_a_redirect_on_the_text_completion_route_is_refused_not_followed(httpserver):
    httpserver.expect_request(COMPLETIONS_PATH, method="POST").respond_with_data(
        "", status=307, headers={"Location": "http://169.254.169.254/v1/completions"}
    )

    with pytest.raises(ProviderRequestError, match="redirected the text-completion request"):
        make_provider(httpserver, token="server-key").generate([request_for(COMPLETION_SPEC)])

    assert len(httpserver.log) == 1


def test_the_route_of_each_request_keeps_cached_answers_of_the_two_routes_apart(httpserver):
    from workflows.gateway.cache import cache_key
    from workflows.gateway.providers.base import request_route

    httpserver.expect_request(COMPLETIONS_PATH, method="POST").respond_with_json({"detail": "Not Found"}, status=404)
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(completion_body("negative"))
    server = make_provider(httpserver)
    router = HuggingFaceProvider(model="m", base_url=None, token="hf_x", timeout_seconds=5)
    completion, chat = request_for(COMPLETION_SPEC), request_for()

    def key(provider, request):
        return cache_key(provider="huggingface", model="m", request=request, route=request_route(provider, request))

    assert (server.route(completion), server.route(chat), router.route(completion)) == ("text-completion", "", "")
    before = key(server, completion)
    assert before != key(router, completion)  # the router wraps it in chat: another answer
    assert key(server, chat) == cache_key(provider="huggingface", model="m", request=chat)  # chat keys unchanged

    server.generate([completion])  # the server lacks the route: from now on completion prompts go to chat

    assert server.route(completion) == ""
    assert key(server, completion) == key(router, completion) != before


def test_faults_on_the_text_completion_route_map_onto_the_same_errors(httpserver):
    httpserver.expect_ordered_request(COMPLETIONS_PATH, method="POST").respond_with_json(
        {"error": {"message": "Rate limit reached"}}, status=429, headers={"Retry-After": "4"}
    )
    httpserver.expect_ordered_request(COMPLETIONS_PATH, method="POST").respond_with_json(
        {"error": {"message": "prompt is too long"}}, status=400
    )
    httpserver.expect_ordered_request(COMPLETIONS_PATH, method="POST").respond_with_data(
        '{"choices": [{"index": 0}]}', content_type="application/json"
    )
    provider = make_provider(httpserver)

    with pytest.raises(ProviderUnavailableError, match="answered 429: Rate limit reached") as limited:
        provider.generate([request_for(COMPLETION_SPEC)])
    with pytest.raises(ProviderRequestError, match="answered 400: prompt is too long"):
        provider.generate([request_for(COMPLETION_SPEC)])
    with pytest.raises(ProviderUnavailableError, match="not a completion: the first choice has no text"):
        provider.generate([request_for(COMPLETION_SPEC)])

    assert limited.value.retry_after_seconds == 4.0
    assert len(httpserver.log) == 3  # one attempt each: the gateway alone retries


def test_a_slow_text_completion_times_out_as_retryable(httpserver):
    release = threading.Event()

    def slow(_request):
        release.wait(timeout=5)
        return Response(json.dumps(text_completion_body()), content_type="application/json")

    httpserver.expect_request(COMPLETIONS_PATH, method="POST").respond_with_handler(slow)

    with pytest.raises(ProviderUnavailableError, match=r"did not answer within 0\.2 s"):
        make_provider(httpserver, timeout_seconds=0.2).generate([request_for(COMPLETION_SPEC)])

    finish_slow_handler(httpserver, release)


def test_it_answers_a_batch_in_order(httpserver):
    def echo_review(request):
        review = request.get_json()["messages"][-1]["content"]
        return Response(json.dumps(completion_body(f"echo {review}")), content_type="application/json")

    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_handler(echo_review)

    generations = make_provider(httpserver).generate([request_for(text="first"), request_for(text="second")])

    assert [generation.text for generation in generations] == [
        "echo Review: first\nSentiment:",
        "echo Review: second\nSentiment:",
    ]


def test_it_sends_its_token_as_a_bearer_token(httpserver):
    httpserver.expect_request(
        CHAT_PATH, method="POST", headers={"Authorization": "Bearer server-key"}
    ).respond_with_json(completion_body())

    [generation] = make_provider(httpserver, token="server-key").generate([request_for()])

    assert generation.text == "positive"


def test_it_never_sends_the_machines_hugging_face_token_to_a_self_hosted_server(httpserver, monkeypatch):
    # Without this guard the client falls back to HF_TOKEN and hands it to whatever host base_url names.
    monkeypatch.setenv("HF_TOKEN", "hf_deployment_secret")
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(completion_body())

    make_provider(httpserver, token=None).generate([request_for()])

    request, _response = httpserver.log[0]
    assert "hf_deployment_secret" not in str(request.headers)
    assert request.headers.get("Authorization", "") == ""


def test_it_sends_the_model_name_only_when_there_is_one(httpserver):
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(completion_body())
    provider = make_provider(httpserver, model=None)

    provider.generate([request_for()])

    assert provider.model_name == httpserver.url_for("/")  # a nameless server is told apart by its URL
    assert sent_json(httpserver)["model"] == "dummy"  # the client's placeholder; TGI and llama.cpp ignore it


def test_a_429_is_retryable_after_the_servers_retry_after_and_is_not_retried_by_the_client(httpserver):
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(
        {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
        status=429,
        headers={"Retry-After": "7"},
    )

    with pytest.raises(ProviderUnavailableError, match="answered 429: Rate limit reached") as caught:
        make_provider(httpserver).generate([request_for()])

    assert caught.value.retryable
    assert caught.value.retry_after_seconds == 7.0
    assert len(httpserver.log) == 1  # the gateway alone retries


def test_a_503_is_retryable(httpserver):
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(
        {"error": "Model is overloaded", "error_type": "overloaded"}, status=503
    )

    with pytest.raises(ProviderUnavailableError, match="answered 503: Model is overloaded") as caught:
        make_provider(httpserver).generate([request_for()])

    assert caught.value.retry_after_seconds is None
    assert len(httpserver.log) == 1


def test_a_429_from_the_router_is_retried_when_its_rate_limit_window_resets(httpserver):
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(
        {"error": "You have exceeded your rate limit."},
        status=429,
        headers={"RateLimit": '"api";r=0;t=55', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'},
    )

    with pytest.raises(ProviderUnavailableError, match="exceeded your rate limit") as caught:
        make_provider(httpserver).generate([request_for()])

    assert caught.value.retry_after_seconds == 55.0


def test_a_model_still_loading_is_retried_after_its_estimated_time(httpserver):
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(
        {"error": "Model my-org/my-model is currently loading", "estimated_time": 20.5}, status=503
    )

    with pytest.raises(ProviderUnavailableError, match="currently loading") as caught:
        make_provider(httpserver).generate([request_for()])

    assert caught.value.retry_after_seconds == 20.5


def test_a_5xx_html_page_is_reported_by_its_status_not_its_markup(httpserver):
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_data(
        "<html><body><h1>502 Bad Gateway</h1></body></html>", status=502, content_type="text/html"
    )

    with pytest.raises(ProviderUnavailableError) as caught:
        make_provider(httpserver).generate([request_for()])

    assert str(caught.value).endswith("answered 502: BAD GATEWAY")


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"error": {"message": "temperature must be non-negative", "type": "BadRequestError"}}, "temperature"),
        (422, {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096"}, "<= 4096"),
        (404, {"object": "error", "message": "The model `other` does not exist.", "code": 404}, "does not exist"),
    ],
)
def test_other_4xx_fail_at_once_with_the_servers_message(httpserver, status, body, message):
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(body, status=status)

    with pytest.raises(ProviderRequestError, match=f"answered {status}: .*{message}") as caught:
        make_provider(httpserver).generate([request_for()])

    assert not caught.value.retryable


def test_an_authentication_failure_does_not_echo_the_token(httpserver):
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json({"error": "Invalid credentials"}, status=401)

    with pytest.raises(ProviderRequestError, match="answered 401: Invalid credentials") as caught:
        make_provider(httpserver, token="hf_topsecret_token").generate([request_for()])

    assert "hf_topsecret_token" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("this is not json", "Expecting value"),
        ("{}", "no choices"),
        ('{"choices": []}', "no choices"),
        ('{"choices": [{"index": 0, "finish_reason": "stop"}]}', "no message"),
        ("[1, 2]", "Invalid data type"),
    ],
)
def test_a_malformed_body_is_a_retryable_fault_of_the_server(httpserver, body, detail):
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_data(body, content_type="application/json")

    with pytest.raises(ProviderUnavailableError, match=f"not a chat completion: .*{detail}"):
        make_provider(httpserver).generate([request_for()])


def test_missing_usage_counts_no_tokens_but_keeps_the_answer(httpserver):
    body = completion_body("positive")
    del body["usage"]
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(body)

    [generation] = make_provider(httpserver).generate([request_for()])

    assert (generation.text, generation.input_tokens, generation.output_tokens) == ("positive", 0, 0)


def test_a_slow_server_times_out_as_retryable(httpserver):
    release = threading.Event()

    def slow(_request):
        release.wait(timeout=5)
        return Response(json.dumps(completion_body()), content_type="application/json")

    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_handler(slow)
    provider = make_provider(httpserver, timeout_seconds=0.2)

    started = time.perf_counter()
    with pytest.raises(ProviderUnavailableError, match=r"did not answer within 0\.2 s"):
        provider.generate([request_for()])

    assert time.perf_counter() - started < 2  # the explicit timeout ended the wait, not the server
    finish_slow_handler(httpserver, release)
    assert len(httpserver.log) == 1  # one attempt, never a second


def test_an_unreachable_base_url_is_retryable_and_named():
    port = closed_local_port()
    base_url = f"http://127.0.0.1:{port}"
    provider = HuggingFaceProvider(
        model="m", base_url=base_url, token=None, timeout_seconds=2.0, allowed_hosts=["127.0.0.1"]
    )

    with pytest.raises(ProviderUnavailableError, match=f"could not reach {base_url}"):
        provider.generate([request_for()])


def test_a_private_base_url_is_refused_before_any_call_unless_allowed(httpserver):
    with pytest.raises(ProviderConfigError, match=r"base_url host localhost .* is a loopback address"):
        make_provider(httpserver, allow_private_base_url=False)

    assert httpserver.log == []
    assert make_provider(httpserver, allow_private_base_url=False, allowed_hosts=["localhost"]).model_name


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"model": None, "base_url": None, "token": "hf_x"}, "needs a model .* or a base_url"),
        ({"model": "meta-llama/Llama-3.1-8B-Instruct", "base_url": "", "token": None}, r"needs a token \(HF_TOKEN\)"),
        ({"model": "meta-llama/Llama-3.1-8B-Instruct", "base_url": None, "token": "sk-other"}, "Hugging Face access"),
        ({"model": "m", "base_url": "ftp://8.8.8.8", "token": None}, "base_url must use http or https"),
        ({"model": "http://169.254.169.254/", "base_url": None, "token": "hf_x"}, "model must be a model id"),
        ({"model": "m", "base_url": None, "token": "hf_x", "timeout_seconds": 0}, "timeout_seconds must be positive"),
        ({"model": "m", "base_url": None, "token": "hf_x", "max_concurrency": 0}, "max_concurrency must be at least"),
    ],
)
def test_bad_configuration_is_refused_with_the_field_named(arguments, message):
    with pytest.raises(ProviderConfigError, match=message):
        HuggingFaceProvider(**{"timeout_seconds": 5.0, **arguments})


def test_it_reports_its_name_model_and_concurrency():
    provider = HuggingFaceProvider(
        model="meta-llama/Llama-3.1-8B-Instruct", base_url=None, token="hf_x", timeout_seconds=5, max_concurrency=16
    )

    assert (provider.name, provider.model_name, provider.max_concurrency) == (
        "huggingface",
        "meta-llama/Llama-3.1-8B-Instruct",
        16,
    )


@pytest.mark.parametrize("padding", [0, 480, 495])
def test_a_token_quoted_back_in_an_error_is_cut_out_even_across_the_length_cut(httpserver, padding):
    token = "server-key-0123456789abcdef"
    echo = {"error": {"message": "x" * padding + f"invalid key Bearer {token}" + "y" * 600}}
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(echo, status=401)

    with pytest.raises(ProviderRequestError) as caught:
        make_provider(httpserver, token=token).generate([request_for()])

    message = str(caught.value)
    if padding == 0:
        assert "invalid key Bearer [redacted]" in message
    assert not any(token[start : start + 8] in message for start in range(len(token) - 7))
