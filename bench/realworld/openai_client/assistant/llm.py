from openai import OpenAI

MODEL = "gpt-4o-mini"


def make_client(http_client=None) -> OpenAI:
    return OpenAI(api_key="{{FAKE:openai_key#1}}", http_client=http_client, max_retries=0)


def summarize(text: str, client: OpenAI | None = None) -> str:
    client = client or make_client()
    response = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "Summarize in one line."}, {"role": "user", "content": text}],
    )
    return response.choices[0].message.content or ""
