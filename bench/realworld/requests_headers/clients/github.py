import requests

API = "https://api.github.com"
HEADERS = {
    "Accept": "application/vnd.github+json",
    "Authorization": "token {{FAKE:github_pat#1}}",
    "X-GitHub-Api-Version": "2022-11-28",
}


def list_repos(org: str) -> list[str]:
    response = requests.get(f"{API}/orgs/{org}/repos", headers=HEADERS, timeout=10)
    response.raise_for_status()
    return [repo["name"] for repo in response.json()]
