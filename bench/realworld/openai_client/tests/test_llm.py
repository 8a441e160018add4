import httpx
from assistant import llm

COMPLETION = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": llm.MODEL,
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "short"}}],
}


def test_summarize_sends_the_api_key(expect):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=COMPLETION)

    client = llm.make_client(http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert llm.summarize("a long text", client=client) == "short"
    scheme, key = seen[0].headers["authorization"].split(" ", 1)
    assert scheme == "Bearer"
    expect(key, "openai_key#1", r"sk-proj-[\w-]{74}T3BlbkFJ[\w-]{74}")
